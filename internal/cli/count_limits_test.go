package cli

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/redistest"
)

// TestCountTokensLimitedThroughServe: through `bulwark serve`, on both
// limit backends, a key created with --rpm 2 gets exactly 2 token counts
// of 20 sent at once (the others 429 with retry-after, in the caller's
// dialect) — the counting endpoints took no limit before — and still its
// 2 completions: counts have a bucket of their own.
func TestCountTokensLimitedThroughServe(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			h := newHarness(t)
			cfg := "providers:\n  - {name: mock, type: mock}\n"
			if backend == "redis" {
				srv := redistest.StartServer(t)
				t.Setenv("BULWARK_REDIS_URL", "redis://"+srv.Addr+"/0")
				cfg += "limits: {backend: redis}\n"
			}
			h.useConfig(cfg)
			key := h.createKey("--name", "counter", "--rpm", "2").Key
			h.serve()
			post := func(path, body string) (int, http.Header, string) {
				req, _ := http.NewRequest(http.MethodPost, h.addr+path, strings.NewReader(body))
				req.Header.Set("X-Api-Key", key)
				req.Header.Set("Anthropic-Version", "2023-06-01")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return 0, nil, ""
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header, string(b)
			}
			const count = `{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}`
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					status, hdr, body := post("/v1/messages/count_tokens", count)
					if status == http.StatusTooManyRequests && (hdr.Get("Retry-After") == "" || !strings.Contains(body, `"rate_limit_error"`)) {
						t.Errorf("refused count: retry-after %q, body %s", hdr.Get("Retry-After"), body)
					}
					mu.Lock()
					statuses[status]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if statuses[200] != 2 || statuses[429] != 18 {
				t.Fatalf("20 parallel counts on --rpm 2: %v, want 2×200 and 18×429", statuses)
			}
			if status, _, body := post("/v1beta/models/mock/echo:countTokens", `{"contents":[{"parts":[{"text":"hi"}]}]}`); status != 429 || !strings.Contains(body, "RESOURCE_EXHAUSTED") {
				t.Fatalf("gemini count past the limit: %d %s", status, body)
			}
			for i := range 2 {
				if status, _, body := post("/v1/messages", `{"model":"mock/echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`); status != 200 {
					t.Fatalf("completion %d after the counts: %d %s", i+1, status, body)
				}
			}
		})
	}
}
