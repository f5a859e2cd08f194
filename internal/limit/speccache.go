package limit

import "sync"

// specCache remembers the Specs that ParseSpec decoded successfully, keyed
// by their exact text. Every limited request parses its key record's
// Limits JSON (the record itself comes from the key cache), and a strict
// encoding/json decode per request cost about 2% of the gateway's CPU
// under load; the texts in use are few (one per key with limits), so a
// small map turns it into a lookup. Only valid Specs are cached, so an
// invalid text still fails closed, with its error, every time. Safe for
// concurrent use.
type specCache struct {
	mu sync.RWMutex
	m  map[string]Spec
}

// maxCachedSpecs bounds the cache; past it the cache starts over (texts
// come from key records, which operators create, so this is generous).
const maxCachedSpecs = 4096

var parsedSpecs = specCache{m: map[string]Spec{}}

// get returns a copy of the Spec cached for s. The copy owns its
// BudgetUSD, so a caller that changes it cannot change the cache.
func (c *specCache) get(s string) (Spec, bool) {
	c.mu.RLock()
	sp, ok := c.m[s]
	c.mu.RUnlock()
	return sp.clone(), ok
}

func (c *specCache) put(s string, sp Spec) {
	sp = sp.clone()
	c.mu.Lock()
	if len(c.m) >= maxCachedSpecs {
		clear(c.m)
	}
	c.m[s] = sp
	c.mu.Unlock()
}

// clone returns s with its own copy of BudgetUSD.
func (s Spec) clone() Spec {
	if s.BudgetUSD != nil {
		v := *s.BudgetUSD
		s.BudgetUSD = &v
	}
	return s
}
