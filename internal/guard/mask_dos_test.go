package guard

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestRestoreCostIndependentOfMaskSize: Mask.Restore builds a
// strings.Replacer over every placeholder of the request on every call
// (a 2×n slice and a trie of all n placeholders), and it is called once
// per placeholder match of a non-streamed answer (restoreJSON) and once
// per streamed chunk that holds a '[' (stream.Restorer.Write). A request
// under a reversible policy (pii=redact, reversible: true) with n distinct
// e-mail addresses (16 bytes each: 100 000 in 1.6 MB) followed by an
// answer that repeats k placeholders, or streams k chunks with a '[',
// costs O(k × n): here 1 000 restores of a short chunk against a mask of
// 10 000 values allocate ~2 GB (2 000 against 20 000: 9 GB, 15 s); 100 000 values and a 16 000-chunk
// stream make it ~25 GB and minutes of CPU for one request.
func TestRestoreCostIndependentOfMaskSize(t *testing.T) {
	m := NewMask(true)
	for i := range 10_000 {
		m.Placeholder("EMAIL", fmt.Sprintf("user%05d@example.com", i))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range 1_000 {
		if got, want := m.Restore(fmt.Sprintf("mail [EMAIL_%d] now", i+1)), fmt.Sprintf("mail user%05d@example.com now", i); got != want {
			t.Fatalf("restore: %q, want %q", got, want)
		}
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("1 000 restores of a 20-byte chunk against a mask of 10 000 values allocated %d MB in %v: each call rebuilds a replacer over the whole mask",
			alloc>>20, took.Round(time.Millisecond))
	}
}
