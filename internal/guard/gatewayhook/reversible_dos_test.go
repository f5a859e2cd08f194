package gatewayhook

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
)

// TestReversibleAnswerCostIsLinear: under a reversible policy the first
// response scan seeds the response mask (seedAfter) by calling
// Mask.Restore once per placeholder the request handed out, and each call
// rebuilds a replacer over all of them: O(n²) in the distinct values the
// request redacted, paid on any answer at all. A request with 4 000
// distinct e-mail addresses (88 KB) makes answering "ok" take ~4 s here;
// 100 000 addresses (2.2 MB) about 40 minutes of CPU for one request.
func TestReversibleAnswerCostIsLinear(t *testing.T) {
	h, _, _ := newHooks(t, map[string]string{"rev": "pii=redact,reversible=true"})
	var b strings.Builder
	for i := range 4_000 {
		fmt.Fprintf(&b, "user%05d@example.com ", i)
	}
	ctx := ctxFor("rev", "acme")
	if _, err := h.InspectRequest(ctx, apierr.OpenAI, chat(b.String())); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	if _, err := h.InspectResponse(ctx, apierr.OpenAI, []byte(`{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Fatalf("answering \"ok\" to a request that redacted 4 000 values allocated %d MB in %v: quadratic in the request's placeholders",
			alloc>>20, took.Round(time.Millisecond))
	}
}
