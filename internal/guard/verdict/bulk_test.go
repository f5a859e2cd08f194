package verdict

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// hasPointers reports whether a value of type t holds anything the
// garbage collector must trace.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
}

// TestBulkIsPointerFree checks that the slot array and the index map hold
// no pointers, so the runtime allocates them as no-scan memory that GC
// cycles skip. A field such as a string or slice added to slot fails it.
func TestBulkIsPointerFree(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{"slot", reflect.TypeFor[slot]()},
		{"index", reflect.TypeFor[table]().Elem()},
		{"side table key", reflect.TypeFor[sideKey]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if hasPointers(tt.typ) {
				t.Fatalf("%v holds pointers: the GC would scan every entry", tt.typ)
			}
		})
	}
	if !hasPointers(reflect.TypeFor[Verdict]()) {
		t.Fatal("hasPointers cannot see the pointers of Verdict: the check above proves nothing")
	}
}

func testKey(i int) Key {
	return sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
}

// checkShard verifies a shard's LRU list and free list: every slot is on
// exactly one, the index names the listed slots, and the byte count is
// what the slots and the slot array hold.
func checkShard(t *testing.T, s *shard) {
	t.Helper()
	seen := make([]bool, len(s.slots))
	n, sides, used, prev := 0, 0, cap(s.slots)*slotSize+s.index.bytes(), int32(none)
	for i := s.head; i != none; i = s.slots[i].next {
		if seen[i] || s.slots[i].prev != prev {
			t.Fatalf("LRU list broken at slot %d", i)
		}
		seen[i], prev = true, i
		sl := s.slots[i]
		if j, _, ok := s.index.find(s.slots, sl.key); !ok || j != i {
			t.Fatalf("slot %d not indexed", i)
		}
		for f := range numFamilies {
			_, ok := s.side[sideKey{i, f}]
			if want := sl.side&(1<<f) != 0; ok != want || want && sl.have&(1<<f) == 0 {
				t.Fatalf("slot %d family %d: side entry %v, flags %b/%b", i, f, ok, sl.side, sl.have)
			}
		}
		n += bits.OnesCount8(sl.have)
		sides += bits.OnesCount8(sl.side)
		used += int(sl.cost)
	}
	listed, indexed := 0, 0
	for i := s.head; i != none; i = s.slots[i].next {
		listed++
	}
	for _, v := range s.index {
		if v != 0 {
			indexed++
		}
	}
	if prev != s.tail || listed != indexed || n != s.n || sides != len(s.side) || used != s.used || used > s.budget {
		t.Fatalf("tail %d/%d, %d texts listed/%d indexed, %d verdicts/%d counted, %d side/%d, %d bytes/%d counted, budget %d",
			prev, s.tail, listed, indexed, n, s.n, sides, len(s.side), used, s.used, s.budget)
	}
	for i := s.free; i != none; i = s.slots[i].next {
		if seen[i] {
			t.Fatalf("slot %d both used and free", i)
		}
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("slot %d lost", i)
		}
	}
}

// TestRandomOperations drives one small cache with random puts and gets of
// clean and spanned verdicts and checks, after every step, the lists and
// byte count, and that a hit returns exactly what was stored.
//
// With colliding, many keys share their table position (the bytes the
// index reads), so probe runs wrap around the table and removals shift
// long runs.
func TestRandomOperations(t *testing.T) {
	for _, colliding := range []bool{false, true} {
		t.Run(fmt.Sprint("colliding=", colliding), func(t *testing.T) { randomOperations(t, colliding) })
	}
}

func randomOperations(t *testing.T, colliding bool) {
	c := New(numShards * 2048)
	r := rand.New(rand.NewPCG(1, 2))
	type entryKey struct {
		key Key
		fam Family
	}
	stored := map[entryKey]Verdict{}
	for step := range 20000 {
		k, fam := testKey(r.IntN(400)), Family(r.IntN(int(numFamilies)))
		if colliding {
			copy(k[8:16], []byte{byte(r.IntN(3)) + 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}
		if r.IntN(2) == 0 {
			var v Verdict
			switch r.IntN(3) {
			case 0:
				v.Spans = make([]span.Span, 1+r.IntN(3))
				v.Spans[0].Start = step
			case 1:
				v = Verdict{Score: float64(step), Type: "SYSTEM_OVERRIDE"}
			default:
				v.Score = float64(step)
			}
			if i, _, ok := c.shard(k).index.find(c.shard(k).slots, k); !ok || c.shard(k).slots[i].have&(1<<fam) == 0 {
				stored[entryKey{k, fam}] = v // a new entry, or one evicted since
			}
			c.Put(k, fam, v)
		} else if got, ok := c.Get(k, fam); ok {
			want := stored[entryKey{k, fam}]
			if got.Score != want.Score || got.Type != want.Type || len(got.Spans) != len(want.Spans) ||
				len(got.Spans) > 0 && got.Spans[0] != want.Spans[0] {
				t.Fatalf("step %d: Get = %+v, stored %+v", step, got, want)
			}
		}
		checkShard(t, c.shard(k))
	}
}

// BenchmarkGCMark fills a cache of the default 16 MB budget the way fresh
// chat turns do (most verdicts clean, one in ten with a span) and times a
// full GC cycle of the process holding it, for this cache and for the
// pointerful reference it replaced; heap-objects is the live object count
// the collector traces.
func BenchmarkGCMark(b *testing.B) {
	type putter interface{ Put(Key, Family, Verdict) }
	caches := []struct {
		name string
		make func() putter
	}{
		{"slots", func() putter { return New(16 << 20) }},
		{"reference", func() putter { return newRefCache(16 << 20) }},
	}
	for _, bc := range caches {
		b.Run(bc.name, func(b *testing.B) {
			c := bc.make()
			spans := []span.Span{{Family: span.FamilyPII, Type: "EMAIL", Start: 3, End: 20, Confidence: 0.95}}
			for i := range 300_000 {
				v := Verdict{Score: 0.1}
				if i%10 == 0 {
					v = Verdict{Spans: spans}
				}
				c.Put(testKey(i), Family(i%int(numFamilies)), v)
			}
			b.ResetTimer()
			for b.Loop() {
				runtime.GC()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
			runtime.KeepAlive(c)
		})
	}
}

// BenchmarkPutFull measures what a fresh text costs the cache in steady
// state: on a full cache, a miss, then a put that evicts the oldest entry,
// for this cache and the reference.
func BenchmarkPutFull(b *testing.B) {
	type cache interface {
		Put(Key, Family, Verdict)
		Get(Key, Family) (Verdict, bool)
	}
	for _, bc := range []struct {
		name string
		c    cache
	}{{"slots", New(16 << 20)}, {"reference", newRefCache(16 << 20)}} {
		b.Run(bc.name, func(b *testing.B) {
			keys := make([]Key, 1<<20)
			for i := range keys {
				keys[i] = testKey(i)
			}
			for i := range 400_000 {
				bc.c.Put(keys[i], PII, Verdict{})
			}
			i := 400_000
			b.ReportAllocs()
			for b.Loop() {
				k := keys[i%len(keys)]
				if _, ok := bc.c.Get(k, PII); !ok {
					bc.c.Put(k, PII, Verdict{})
				}
				i++
			}
		})
	}
}

// TestTableNeverFull fills caches of many budgets: however the budget
// rounds, a shard never holds more slots than half its table, so a probe
// always meets an empty position and stops.
func TestTableNeverFull(t *testing.T) {
	for _, budget := range []int{1, 100, 1000, 2500, 5000, 1 << 16, 3<<16 + 7, 1 << 20} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			c := New(budget)
			for i := range 20000 {
				c.Put(testKey(i), Family(i%int(numFamilies)), Verdict{Score: 1})
			}
			for i := range c.shards {
				s := &c.shards[i]
				if 2*cap(s.slots) > len(s.index) {
					t.Fatalf("shard %d: %d slots for a table of %d", i, cap(s.slots), len(s.index))
				}
				checkShard(t, s)
			}
		})
	}
}
