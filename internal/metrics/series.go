package metrics

import "sync"

// Series remembers what its constructor returns for each label key: resolving a
// vector's child (hashing the label values, locking the vector) on every
// request cost about 0.2 µs per series. The key space must be bounded
// (routes × providers × statuses, never client-chosen strings).
type Series[K comparable, V any] struct {
	newV func(K) V

	mu sync.RWMutex
	m  map[K]V
}

// NewSeries returns an empty cache whose values newV makes.
func NewSeries[K comparable, V any](newV func(K) V) *Series[K, V] {
	return &Series[K, V]{newV: newV, m: map[K]V{}}
}

// Get returns k's value, made on first use; every caller gets the same
// value for a key.
func (s *Series[K, V]) Get(k K) V {
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; ok { // made by a racing first use
		return v
	}
	v = s.newV(k)
	s.m[k] = v
	return v
}
