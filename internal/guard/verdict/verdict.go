// Package verdict remembers what the guardrail detectors concluded about a
// text, so a string scanned once is not scanned again. Chat clients resend
// the whole conversation on every turn: without this, the n-th turn pays
// again for every earlier one.
//
// A text is never stored. Entries are keyed by HMAC-SHA256 under a random
// per-process key of (detector version, partition, text): the digest reveals
// nothing of the text, cannot be predicted or collided by a caller who does
// not know the key, and a 256-bit digest makes an accidental collision
// negligible. The partition (the engine passes the caller's tenant and key
// id) keeps one caller from learning by timing whether another sent a text.
//
// The cache is bounded by a byte budget split over shards, each evicting its
// least recently used entries. It only ever holds what a detector returned
// normally: a panic or an expired deadline stores nothing.
package verdict

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Version names the detectors whose verdicts a cache holds. It is part of
// every digest; bump it when a detector's output for a given text changes,
// so verdicts of an older detector could never be served (the cache lives
// in memory, so this matters only if one ever outlives a process).
const Version = 1

// Family selects which detector's verdict an entry holds.
type Family uint8

// Families with cacheable verdicts.
const (
	PII Family = iota
	Secrets
	Injection
	numFamilies
)

// Verdict is a detector's output for one text: the spans (PII, secrets) or
// the injection score and type. Spans is shared between callers and must be
// treated as read-only.
type Verdict struct {
	Spans []span.Span
	Score float64
	Type  string
}

// Key identifies a text within a partition; see Cache.Key.
type Key [sha256.Size]byte

// entryOverhead approximates the memory of an entry beyond its spans: the
// map slot, the list element and the Verdict header.
const entryOverhead = 192

// spanSize approximates the memory of one span (two string headers, two
// ints, a float).
const spanSize = 56

const numShards = 16

// Cache is a bounded map from (Key, Family) to Verdict. The zero value is
// not usable; call New. A nil *Cache is valid and remembers nothing. Cache
// is safe for concurrent use.
type Cache struct {
	macs   sync.Pool // of *keyer keyed with the process key
	shards [numShards]shard
}

type entryKey struct {
	key Key
	fam Family
}

type entry struct {
	k    entryKey
	v    Verdict
	cost int
}

type shard struct {
	mu     sync.Mutex
	items  map[entryKey]*list.Element
	lru    list.List // front = most recently used
	used   int
	budget int
}

// New returns a cache holding at most about budget bytes of verdicts, keyed
// under a fresh random key. It returns nil (a cache that remembers nothing)
// when budget is not positive.
func New(budget int) *Cache {
	if budget <= 0 {
		return nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		// crypto/rand does not fail on supported platforms; if it ever
		// did, running without a cache is safe, a predictable key is not.
		return nil
	}
	c := &Cache{}
	c.macs.New = func() any { return &keyer{mac: hmac.New(sha256.New, secret)} }
	for i := range c.shards {
		c.shards[i] = shard{items: map[entryKey]*list.Element{}, budget: max(budget/numShards, entryOverhead)}
	}
	return c
}

// Key returns the digest of text within partition. Partition and text are
// length-prefixed so no two (partition, text) pairs share an input.
func (c *Cache) Key(partition, text string) Key {
	var k Key
	if c == nil {
		return k
	}
	kr := c.macs.Get().(*keyer)
	kr.mac.Reset()
	hdr := kr.buf[:0]
	hdr = binary.LittleEndian.AppendUint64(hdr, Version)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(partition)))
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(text)))
	kr.mac.Write(hdr)
	kr.writeString(partition)
	kr.writeString(text)
	copy(k[:], kr.mac.Sum(kr.buf[:0]))
	c.macs.Put(kr)
	return k
}

// keyer is a keyed MAC with a reusable buffer: hashing a string goes
// through buf in chunks, so no per-call copy of the text is allocated.
type keyer struct {
	mac hash.Hash
	buf [1024]byte
}

func (kr *keyer) writeString(s string) {
	for len(s) > 0 {
		n := copy(kr.buf[:], s)
		kr.mac.Write(kr.buf[:n])
		s = s[n:]
	}
}

func (c *Cache) shard(k Key) *shard { return &c.shards[k[0]%numShards] }

// Get returns the verdict stored for (k, fam).
func (c *Cache) Get(k Key, fam Family) (Verdict, bool) {
	if c == nil {
		return Verdict{}, false
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[entryKey{k, fam}]
	if !ok {
		return Verdict{}, false
	}
	s.lru.MoveToFront(el)
	return el.Value.(*entry).v, true
}

// Put stores v for (k, fam), evicting the least recently used entries of
// the shard until it fits its budget. A verdict larger than a shard's whole
// budget is not stored.
func (c *Cache) Put(k Key, fam Family, v Verdict) {
	if c == nil || fam >= numFamilies {
		return
	}
	ek := entryKey{k, fam}
	cost := entryOverhead + spanSize*len(v.Spans)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cost > s.budget {
		return
	}
	if el, ok := s.items[ek]; ok {
		// Same text, same detector: the verdict is the same; refresh it.
		s.lru.MoveToFront(el)
		return
	}
	for s.used+cost > s.budget {
		s.evictOldest()
	}
	s.items[ek] = s.lru.PushFront(&entry{k: ek, v: v, cost: cost})
	s.used += cost
}

func (s *shard) evictOldest() {
	el := s.lru.Back()
	e := el.Value.(*entry)
	s.lru.Remove(el)
	delete(s.items, e.k)
	s.used -= e.cost
}

// Stats reports the number of entries and their estimated bytes.
func (c *Cache) Stats() (entries, bytes int) {
	if c == nil {
		return 0, 0
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += len(s.items)
		bytes += s.used
		s.mu.Unlock()
	}
	return entries, bytes
}
