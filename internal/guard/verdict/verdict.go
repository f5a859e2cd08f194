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
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math"
	"math/bits"
	"sync"
	"unsafe"

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

// spanSize is the memory of one span (two string headers, two ints, a
// float).
const spanSize = int(unsafe.Sizeof(span.Span{}))

// slotSize is the memory of one slot in a shard's slot array.
const slotSize = int(unsafe.Sizeof(slot{}))

// sideBytes is the memory of one side-table entry beyond its spans.
const sideBytes = (4 + int(unsafe.Sizeof(Verdict{})) + 1) * 8 / 7

const numShards = 16

// Cache is a bounded map from (Key, Family) to Verdict. The zero value is
// not usable; call New. A nil *Cache is valid and remembers nothing. Cache
// is safe for concurrent use.
//
// Its bulk holds no pointers, so the garbage collector does not scan it:
// a full cache is megabytes of digests that every GC cycle of the process
// would otherwise trace. Each shard keeps one slot per text, holding that
// text's verdicts of every family (one lookup serves all three detectors),
// in one slot array linked into an LRU list by int32 indices and found
// through an index of slot numbers (see table). A clean verdict (no spans,
// no type: most texts) lives wholly in its slot; only verdicts with spans
// or a type keep them in a small side table.
type Cache struct {
	macs   sync.Pool // of *keyer keyed with the process key
	shards [numShards]shard
}

// slot is one text's verdicts. It holds no pointers
// (TestBulkIsPointerFree).
type slot struct {
	key        Key
	have, side uint8 // bit f: a verdict of family f is held; it is kept in shard.side
	prev, next int32 // LRU neighbours (toward head / tail); the free list uses next; -1 none
	cost       int32 // bytes beyond the slot: its side entries and spans
	score      [numFamilies]float64
}

// sideKey names a verdict kept in the side table.
type sideKey struct {
	slot int32
	fam  Family
}

// none marks the end of a list.
const none = -1

type shard struct {
	mu     sync.Mutex
	index  table
	n      int // verdicts held
	slots  []slot
	side   map[sideKey]Verdict // verdicts with spans or a type
	head   int32               // most recently used
	tail   int32               // least recently used
	free   int32               // free slots, linked by next
	used   int                 // bytes: the table, the slot array's capacity, every slot's cost
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
		b := max(budget/numShards, 2*(slotSize+tableBytesPerSlot))
		t := newTable(b)
		c.shards[i] = shard{index: t, side: map[sideKey]Verdict{}, head: none, tail: none, free: none, used: t.bytes(), budget: b}
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
	if c == nil || fam >= numFamilies {
		return Verdict{}, false
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _, ok := s.index.find(s.slots, k)
	if !ok || s.slots[i].have&(1<<fam) == 0 {
		return Verdict{}, false
	}
	s.toFront(i)
	if s.slots[i].side&(1<<fam) != 0 {
		return s.side[sideKey{i, fam}], true
	}
	return Verdict{Score: s.slots[i].score[fam]}, true
}

// Put stores v for (k, fam), evicting the least recently used texts of
// the shard until it fits its budget. A verdict larger than a shard's whole
// budget is not stored.
func (c *Cache) Put(k Key, fam Family, v Verdict) {
	if c == nil || fam >= numFamilies {
		return
	}
	bit := uint8(1) << fam
	side := len(v.Spans) > 0 || v.Type != ""
	cost := 0
	if side {
		cost = sideBytes + spanSize*cap(v.Spans)
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The int32 bound keeps a slot's summed cost (three families) in its
	// int32 field whatever the budget.
	if s.index.bytes()+slotSize+cost > s.budget || cost > math.MaxInt32/int(numFamilies) {
		return
	}
	i, _, ok := s.index.find(s.slots, k)
	switch {
	case ok && s.slots[i].have&bit != 0:
		// Same text, same detector: the verdict is the same; refresh it.
		s.toFront(i)
		return
	case ok:
		// Another family of a text already held: make room without
		// evicting the text itself.
		s.toFront(i)
		for s.used+cost > s.budget && s.tail != i {
			s.evictOldest()
		}
		if s.used+cost > s.budget {
			return
		}
	default:
		if i, ok = s.alloc(cost); !ok {
			return
		}
		s.slots[i] = slot{key: k, prev: none, next: none}
		s.index.insert(s.slots, k, i)
		s.pushFront(i)
	}
	sl := &s.slots[i]
	sl.have |= bit
	sl.score[fam] = v.Score
	sl.cost += int32(cost) //nolint:gosec // G115: cost <= MaxInt32/numFamilies, checked above
	s.used += cost
	s.n++
	if side {
		sl.side |= bit
		s.side[sideKey{i, fam}] = v
	}
}

// alloc returns a free slot with room for cost more bytes, growing the
// slot array while the budget allows and evicting the least recently used
// entries otherwise.
func (s *shard) alloc(cost int) (int32, bool) {
	for {
		if s.free != none && s.used+cost <= s.budget {
			i := s.free
			s.free = s.slots[i].next
			return i, true
		}
		if s.free == none && s.grow(cost) {
			continue
		}
		if s.tail == none {
			return 0, false // nothing left to evict and no room to grow
		}
		s.evictOldest()
	}
}

// grow doubles the slot array (at least 8 slots) if the budget has room for
// the new capacity and cost more bytes, and frees the new slots.
func (s *shard) grow(cost int) bool {
	old := cap(s.slots)
	n := min(max(8, 2*old), math.MaxInt32)
	if s.used+(n-old)*slotSize+cost > s.budget {
		// The last growth: slots for as many entries as the rest of the
		// budget holds, so no slot is paid for and never used.
		n = old + (s.budget-s.used-cost)/slotSize
		if n <= old {
			return false
		}
	}
	slots := make([]slot, n)
	copy(slots, s.slots)
	for i := n - 1; i >= old; i-- {
		slots[i].next = s.free
		s.free = int32(i) //nolint:gosec // G115: i < n <= math.MaxInt32
	}
	s.slots = slots
	s.used += (n - old) * slotSize
	return true
}

func (s *shard) unlink(i int32) {
	sl := &s.slots[i]
	if sl.prev != none {
		s.slots[sl.prev].next = sl.next
	} else {
		s.head = sl.next
	}
	if sl.next != none {
		s.slots[sl.next].prev = sl.prev
	} else {
		s.tail = sl.prev
	}
	sl.prev, sl.next = none, none
}

func (s *shard) pushFront(i int32) {
	s.slots[i].prev, s.slots[i].next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	}
	s.head = i
	if s.tail == none {
		s.tail = i
	}
}

func (s *shard) toFront(i int32) {
	if s.head != i {
		s.unlink(i)
		s.pushFront(i)
	}
}

func (s *shard) evictOldest() {
	i := s.tail
	s.unlink(i)
	sl := &s.slots[i]
	_, p, _ := s.index.find(s.slots, sl.key)
	s.index.remove(s.slots, p)
	for f := range numFamilies {
		if sl.side&(1<<f) != 0 {
			delete(s.side, sideKey{i, f})
		}
	}
	s.n -= bits.OnesCount8(sl.have)
	s.used -= int(sl.cost)
	*sl = slot{next: s.free, prev: none}
	s.free = i
}

// Stats reports the number of entries and their estimated bytes.
func (c *Cache) Stats() (entries, bytes int) {
	if c == nil {
		return 0, 0
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += s.n
		bytes += s.used
		s.mu.Unlock()
	}
	return entries, bytes
}
