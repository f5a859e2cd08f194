package oauth

import (
	"container/list"
	"sync"
	"time"
)

// ttlCache is a bounded LRU of values that expire, keyed by a token's
// SHA-256 (raw tokens are never kept). It is safe for concurrent use.
type ttlCache[V any] struct {
	max int

	mu    sync.Mutex
	lru   *list.List
	index map[[32]byte]*list.Element
}

type ttlEntry[V any] struct {
	key     [32]byte
	val     V
	expires time.Time
}

func newTTLCache[V any](maxEntries int) *ttlCache[V] {
	return &ttlCache[V]{max: maxEntries, lru: list.New(), index: map[[32]byte]*list.Element{}}
}

// get returns the value for key if it has not expired at now.
func (c *ttlCache[V]) get(key [32]byte, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.index[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*ttlEntry[V])
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.index, key)
		return zero, false
	}
	c.lru.MoveToFront(el)
	return e.val, true
}

// put stores val until expires, evicting the least recently used entries
// beyond the cap.
func (c *ttlCache[V]) put(key [32]byte, val V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[key]; ok {
		el.Value = &ttlEntry[V]{key: key, val: val, expires: expires}
		c.lru.MoveToFront(el)
		return
	}
	c.index[key] = c.lru.PushFront(&ttlEntry[V]{key: key, val: val, expires: expires})
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.index, last.Value.(*ttlEntry[V]).key)
	}
}

func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
