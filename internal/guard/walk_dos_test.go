package guard

import (
	"context"
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
