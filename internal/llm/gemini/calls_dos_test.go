package gemini_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
)

// callsBody is a generateContent body with n functionCalls of one name
// answered by n functionResponses (respID: an "id" member for each
// response, or "").
func callsBody(n int, respID string) []byte {
	var b strings.Builder
	b.WriteString(`{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[`)
	b.WriteString(strings.TrimSuffix(strings.Repeat(`{"functionCall":{"name":"f","args":{}}},`, n), ","))
	b.WriteString(`]},{"role":"user","parts":[`)
	b.WriteString(strings.TrimSuffix(strings.Repeat(`{"functionResponse":{`+respID+`"name":"f","response":{}}},`, n), ","))
	b.WriteString(`]}]}`)
	return []byte(b.String())
}

// TestDecodeManyCallsIsLinear: callIDs.response removes a matched id with
// append(q[:i:i], q[i+1:]...), which copies the whole rest of the name's
// queue into a new slice for every response, and scans the queue from the
// start for a response whose id matches nothing. n calls of one name and
// n responses therefore cost O(n²): a 860 KB body allocates ~800 MB, a
// 3.4 MB one 12 GB and 8 s; near the 32 MiB body cap it is ~1 TB and
// minutes of CPU for one request. Every Gemini-dialect request to a
// non-Gemini model is decoded this way, :countTokens included (which no
// rate limit or budget covers).
func TestDecodeManyCallsIsLinear(t *testing.T) {
	t.Run("allocation", func(t *testing.T) {
		body := callsBody(10_000, "")
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		if _, err := gemini.DecodeRequest(body); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		if limit := uint64(32*len(body) + 16<<20); alloc > limit {
			t.Fatalf("decoding a %d KB body of 10 000 calls and responses allocated %d MB in %v (limit %d MB): quadratic in the calls",
				len(body)>>10, alloc>>20, took.Round(time.Millisecond), limit>>20)
		}
	})
	t.Run("unmatched ids", func(t *testing.T) {
		const n = 64_000
		decode := func(body []byte) time.Duration {
			best := time.Duration(1 << 62)
			for range 2 {
				start := time.Now()
				if _, err := gemini.DecodeRequest(body); err != nil {
					t.Fatal(err)
				}
				best = min(best, time.Since(start))
			}
			return best
		}
		// The control has the same shape and size, but every call has its
		// own name, so each queue holds one id.
		var calls, resps strings.Builder
		for i := range n {
			if i > 0 {
				calls.WriteByte(',')
				resps.WriteByte(',')
			}
			fmt.Fprintf(&calls, `{"functionCall":{"name":"f%05d","args":{}}}`, i)
			fmt.Fprintf(&resps, `{"functionResponse":{"id":"x","name":"f%05d","response":{}}}`, i)
		}
		control := []byte(`{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[` + calls.String() +
			`]},{"role":"user","parts":[` + resps.String() + `]}]}`)
		same := callsBody(n, `"id":"x",`)
		tc, ts := decode(control), decode(same)
		if ratio := float64(ts) / float64(tc); ratio > 3 {
			t.Fatalf("%d calls of one name answered by responses with an unmatched id took %v, %.0f× the %v of the same number of distinct names: every response rescans the name's pending calls",
				n, ts.Round(time.Millisecond), ratio, tc.Round(time.Millisecond))
		}
	})
}
