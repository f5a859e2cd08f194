package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Concurrency caps in-flight requests per key. It is safe for concurrent
// use. A key is tracked only while it holds slots, so the map is bounded by
// the number of requests in flight (and by Options.MaxKeys).
type Concurrency struct {
	opts Options

	mu     sync.Mutex
	counts map[string]int64
}

var _ limit.ConcurrencyLimiter = (*Concurrency)(nil)

// NewConcurrency returns an empty concurrency limiter.
func NewConcurrency(opts Options) *Concurrency {
	return &Concurrency{opts: opts.withDefaults(), counts: make(map[string]int64)}
}

// Len returns the number of keys holding slots.
func (c *Concurrency) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.counts)
}

// Acquire implements limit.ConcurrencyLimiter.
func (c *Concurrency) Acquire(_ context.Context, key string, maxHeld int64) (func(), error) {
	if maxHeld <= 0 {
		return nil, fmt.Errorf("acquire %q: %w: max must be positive", key, limit.ErrInvalidRate)
	}
	c.mu.Lock()
	n, ok := c.counts[key]
	switch {
	case n >= maxHeld:
		c.mu.Unlock()
		return nil, limit.ErrTooManyInFlight
	case !ok && len(c.counts) >= c.opts.MaxKeys:
		c.mu.Unlock()
		return nil, fmt.Errorf("concurrency limiter: %w", limit.ErrCapacity)
	}
	c.counts[key] = n + 1
	c.mu.Unlock()
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.counts[key] <= 1 {
			delete(c.counts, key)
			return
		}
		c.counts[key]--
	}, nil
}
