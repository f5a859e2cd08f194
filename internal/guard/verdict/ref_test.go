package verdict

import (
	"container/list"
	"sync"
)

// refCache is the cache as it was before its bulk became pointer-free:
// container/list elements, *entry values and a map of pointers, all of
// which every GC cycle scans. BenchmarkGCMark compares the two.
type refCache struct {
	shards [numShards]refShard
}

const refEntryOverhead = 192

type entryKey struct {
	key Key
	fam Family
}

func newRefCache(budget int) *refCache {
	c := &refCache{}
	for i := range c.shards {
		c.shards[i] = refShard{items: map[entryKey]*list.Element{}, budget: max(budget/numShards, refEntryOverhead)}
	}
	return c
}

type entry struct {
	k    entryKey
	v    Verdict
	cost int
}

type refShard struct {
	mu     sync.Mutex
	items  map[entryKey]*list.Element
	lru    list.List // front = most recently used
	used   int
	budget int
}

func (c *refCache) Get(k Key, fam Family) (Verdict, bool) {
	s := &c.shards[k[0]%numShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[entryKey{k, fam}]
	if !ok {
		return Verdict{}, false
	}
	s.lru.MoveToFront(el)
	return el.Value.(*entry).v, true
}

func (c *refCache) Put(k Key, fam Family, v Verdict) {
	ek := entryKey{k, fam}
	cost := refEntryOverhead + spanSize*len(v.Spans)
	s := &c.shards[k[0]%numShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if cost > s.budget {
		return
	}
	if el, ok := s.items[ek]; ok {
		s.lru.MoveToFront(el)
		return
	}
	for s.used+cost > s.budget {
		el := s.lru.Back()
		e := el.Value.(*entry)
		s.lru.Remove(el)
		delete(s.items, e.k)
		s.used -= e.cost
	}
	s.items[ek] = s.lru.PushFront(&entry{k: ek, v: v, cost: cost})
	s.used += cost
}
