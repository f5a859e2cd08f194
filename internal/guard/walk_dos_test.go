package guard

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestScanJSONMemoryBoundedByBody: the walk writes the path of every array
// element into its path arena, the parent's path included, for every
// element — numbers too, which are never scanned. Under a long object key
// an array of n elements costs n × len(key) bytes of arena: a 24 KB body
// (an 8 KB key over 8 000 zeros) makes the guard allocate ~375 MB; through
// `bulwark serve` a 98 KB body (a 48 KB key over 26 000 zeros) allocated
// 7.3 GB and took 12–87 s, also when the key's RPM limit refused it (the
// guard runs first); a 1 MB body (512 KB key, 250 000 zeros) asks for
// 128 GB, enough to have the process killed for every client. The request
// guard runs this walk on every authenticated LLM request body (default
// policy: pii=log, secrets=redact, injection=log).
func TestScanJSONMemoryBoundedByBody(t *testing.T) {
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("k", 8<<10)
	zeros := strings.TrimSuffix(strings.Repeat("0,", 8000), ",")
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":{"` + key + `":[` + zeros + `]}}`)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err = e.ScanJSON(context.Background(), body, DefaultPolicy(), nil)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	// A scan reads the body once: a few copies of it, not one per element.
	limit := uint64(32*len(body) + 4<<20)
	if alloc > limit {
		t.Fatalf("ScanJSON of a %d-byte body allocated %d MB in %v (limit %d MB): the path arena grows with elements × key length",
			len(body), alloc>>20, took.Round(time.Millisecond), limit>>20)
	}
}

// TestScanJSONPathsBoundedByBody: paths are written only for findings and
// trust decisions, but those too are made per string, and every string
// under a long parent path repeats it. Whatever needs the paths — trust
// for each string of an array, a finding for each value or key, an
// unscannable block each, a deep chain of long keys — a body with a long
// parent path costs about what the same body with a one-byte one does:
// past the scan's path budget, paths are elided.
func TestScanJSONPathsBoundedByBody(t *testing.T) {
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := func(item string, n int) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	var keys strings.Builder
	for i := range 4000 {
		if i > 0 {
			keys.WriteByte(',')
		}
		fmt.Fprintf(&keys, `"u%d@example.com":0`, i)
	}
	chat := `{"messages":[{"role":"user","content":"hi"}],`
	shapes := []struct{ name, body string }{
		{"strings, trust asked of each", chat + `"K":[` + rep(`""`, 16000) + `]}`},
		{"strings in a member", chat + `"metadata":{"K":[` + rep(`""`, 16000) + `]}}`},
		{"a finding each", chat + `"metadata":{"K":[` + rep(`"a@b.co"`, 6000) + `]}}`},
		{"a key finding each", chat + `"metadata":{"K":{` + keys.String() + `}}}`},
		{"unscannable blocks", chat + `"metadata":{"K":[` + rep(`{"type":"image"}`, 2000) + `]}}`},
		{"deep chain", chat + `"x":` + strings.Repeat(`{"K":`, 200) + `[` + rep(`"a@b.co"`, 6000) + `]` + strings.Repeat("}", 200) + `}`},
	}
	alloc := func(body string) uint64 {
		t.Helper()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := e.ScanJSON(context.Background(), []byte(body), DefaultPolicy(), OpenAIChatTrust([]byte(body))); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			short := alloc(strings.ReplaceAll(s.body, `"K"`, `"k"`))
			long := strings.ReplaceAll(s.body, `"K"`, `"`+strings.Repeat("k", 4<<10)+`"`)
			got := alloc(long)
			// The budget (4 × body + 64 KiB), with room for its chunks.
			if limit := short + uint64(8*len(long)+1<<20); got > limit {
				t.Fatalf("%d-byte body: %d MB with a long key, %d MB with a short one", len(long), got>>20, short>>20)
			}
		})
	}
}

// TestPathBudgetElides: past the budget a finding's path is "…" (marked
// for a key) and a string is untrusted; before it, paths are exact.
func TestPathBudgetElides(t *testing.T) {
	key := strings.Repeat("k", 1000)
	body := `{"messages":[{"role":"system","content":"` + attack + `"}],"m":{"` + key + `":[` + strings.TrimSuffix(strings.Repeat(`"a@b.co",`, 400), ",") + `]},"z":{"a@b.co":1}}`
	w, err := walkJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	a := w.arena()
	a.left = 10 << 10
	roles := OpenAIChatTrust([]byte(body))
	var exact, elidedN int
	var last string
	for _, l := range w.leaves {
		p := a.finding(l.at, l.key)
		switch {
		case p == elided || p == elided+keySuffix:
			elidedN++
		case elidedN > 0:
			t.Fatalf("%q exact after an elided path", p)
		default:
			exact++
		}
		last = p
	}
	if exact == 0 || elidedN == 0 || last != elided+keySuffix {
		t.Fatalf("%d exact, %d elided, last %q", exact, elidedN, last)
	}
	if got := a.trustOf(w.leaves[3].at, roles); got != Untrusted {
		t.Fatalf("system content past the budget: %v, want untrusted", got)
	}
	if w, _ = walkJSON([]byte(body)); w.arena().trustOf(w.leaves[3].at, roles) != Trusted {
		t.Fatal("system content within the budget: untrusted, want trusted")
	}
}

// TestScanJSONDepth: the walk recurses once per level, so nesting is
// bounded; a body past the bound is refused as too deep — not as invalid
// JSON, which it is not — and refused under every policy, a log-only one
// included (never forwarded unscanned).
func TestScanJSONDepth(t *testing.T) {
	e, _ := newEngine(t)
	nest := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":`, n-1) + `["mail jane.doe@example.org"]` + strings.Repeat("}", n-1))
	}
	for _, policy := range []string{"pii=redact", "pii=log,secrets=log,injection=log"} {
		p := mustPolicy(t, policy)
		if _, findings, err := e.ScanJSON(context.Background(), nest(MaxDepth), p, nil); err != nil || len(findings) != 1 {
			t.Fatalf("%s: %d levels: %d findings, error %v; want the body scanned", policy, MaxDepth, len(findings), err)
		}
		out, _, err := e.ScanJSON(context.Background(), nest(MaxDepth+1), p, nil)
		if !errors.Is(err, ErrTooDeep) || !errors.Is(err, ErrInvalidJSON) || out != nil {
			t.Fatalf("%s: %d levels: error %v, %d bytes out; want ErrTooDeep (an ErrInvalidJSON) and nothing to forward",
				policy, MaxDepth+1, err, len(out))
		}
		if want := fmt.Sprintf("nested more than %d levels deep", MaxDepth); !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %q does not say %q", policy, err, want)
		}
	}
}
