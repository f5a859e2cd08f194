package verdict

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

func TestKey(t *testing.T) {
	c, other := New(1<<20), New(1<<20)
	text := strings.Repeat("the same long chat turn ", 4)
	tests := []struct {
		name     string
		a, b     Key
		wantSame bool
	}{
		{"deterministic within a cache", c.Key("t\x00k", text), c.Key("t\x00k", text), true},
		{"partition changes the key", c.Key("t\x00k1", text), c.Key("t\x00k2", text), false},
		{"text changes the key", c.Key("p", text), c.Key("p", text+"."), false},
		{"partition and text boundary cannot be shifted", c.Key("ab", "c"+text), c.Key("a", "bc"+text), false},
		{"each cache has its own random key", c.Key("p", text), other.Key("p", text), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.wantSame {
				t.Fatalf("same = %v, want %v", tt.a == tt.b, tt.wantSame)
			}
		})
	}
}

func TestGetPut(t *testing.T) {
	c := New(1 << 20)
	k := c.Key("p", "some text")
	spans := []span.Span{{Family: span.FamilyPII, Type: "EMAIL", Start: 1, End: 5, Confidence: 0.95}}
	if _, ok := c.Get(k, PII); ok {
		t.Fatal("hit before any Put")
	}
	c.Put(k, PII, Verdict{Spans: spans})
	c.Put(k, Injection, Verdict{Score: 0.97, Type: "SYSTEM_OVERRIDE"})
	tests := []struct {
		name   string
		fam    Family
		wantOK bool
		want   Verdict
	}{
		{"pii verdict", PII, true, Verdict{Spans: spans}},
		{"injection verdict", Injection, true, Verdict{Score: 0.97, Type: "SYSTEM_OVERRIDE"}},
		{"family never stored misses", Secrets, false, Verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.Get(k, tt.fam)
			if ok != tt.wantOK || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Get = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNilCacheRemembersNothing(t *testing.T) {
	for _, budget := range []int{0, -1} {
		c := New(budget)
		k := c.Key("p", "text")
		c.Put(k, PII, Verdict{Score: 1})
		if _, ok := c.Get(k, PII); ok {
			t.Fatalf("budget %d: remembered", budget)
		}
	}
}

// TestBounded fills a small cache far beyond its budget: the estimated
// size never exceeds it, recently read entries survive and the oldest go.
func TestBounded(t *testing.T) {
	const budget = 64 << 10
	c := New(budget)
	hot := c.Key("p", "hot")
	c.Put(hot, PII, Verdict{Spans: make([]span.Span, 3)})
	first := c.Key("p", "text 0")
	c.Put(first, PII, Verdict{})
	for i := 1; i < 20000; i++ {
		c.Put(c.Key("p", fmt.Sprint("text ", i)), PII, Verdict{Spans: make([]span.Span, i%4)})
		c.Get(hot, PII) // keep it recently used
		if i%1000 == 0 {
			if n, b := c.Stats(); b > budget || n == 0 {
				t.Fatalf("after %d puts: %d entries, %d bytes (budget %d)", i, n, b, budget)
			}
		}
	}
	if _, ok := c.Get(hot, PII); !ok {
		t.Fatal("a recently used entry was evicted")
	}
	if _, ok := c.Get(first, PII); ok {
		t.Fatal("the oldest entry survived 20,000 newer ones")
	}
	big := c.Key("p", "big")
	c.Put(big, PII, Verdict{Spans: make([]span.Span, budget/spanSize)})
	if _, ok := c.Get(big, PII); ok {
		t.Fatal("a verdict larger than a shard's budget was stored")
	}
}

// TestConcurrent runs readers and writers on the same keys (go test -race
// checks the locking).
func TestConcurrent(t *testing.T) {
	c := New(16 << 10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := c.Key("p", fmt.Sprint(i%300))
				if v, ok := c.Get(k, Injection); ok && v.Score != float64(i%300) {
					t.Errorf("goroutine %d: key %d holds score %v", g, i%300, v.Score)
					return
				}
				c.Put(k, Injection, Verdict{Score: float64(i % 300)})
			}
		})
	}
	wg.Wait()
	if _, b := c.Stats(); b > 16<<10 {
		t.Fatalf("%d bytes over a 16 KiB budget", b)
	}
}

func BenchmarkKey(b *testing.B) {
	c := New(1 << 20)
	text := strings.Repeat("a typical chat turn of moderate length ", 16)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		c.Key("tenant\x00key", text)
	}
}
