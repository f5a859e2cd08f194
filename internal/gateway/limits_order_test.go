package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// countingHook counts the request bodies it is asked to inspect (the
// guardrail: a full JSON walk and every detector over up to 32 MiB, and an
// fsync'd audit entry when something is found).
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) InspectRequest(_ context.Context, _ apierr.Dialect, body []byte) ([]byte, error) {
	h.n.Add(1)
	return body, nil
}

// TestRefusedRequestIsNotInspected: docs/limits.md puts the key's limits
// (concurrency → RPM → TPM → budget) before the guardrail hooks, so a
// request the key's limits refuse costs no guard scan. The gateway runs
// the request hook in exchange.serve before the limiter (the first call
// hook, in serveCall): a key limited to 1 request per minute still makes
// the server scan every body it sends, so RPM and max_parallel bound
// nothing of the guard's CPU and memory (seconds and ~1 GB per 32 MiB body
// full of findings).
func TestRefusedRequestIsNotInspected(t *testing.T) {
	hook := &countingHook{}
	e := newEnv(t, func(_ *Config, d *Deps) {
		opts := memory.Options{}
		d.Hooks.Request = hook
		d.Routing.Gate = &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)}
		d.Routing.Limits = staticLimits{{ID: "key:k", RPM: 1}}
	})
	body := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`
	var ok, refused int
	for range 10 {
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body, nil)
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	if ok != 1 || refused != 9 {
		t.Fatalf("rpm 1: %d admitted, %d refused; want 1 and 9", ok, refused)
	}
	if n := hook.n.Load(); n != int64(ok) {
		t.Fatalf("request guard inspected %d bodies for %d admitted requests: the %d refused by the key's RPM limit were scanned too", n, ok, n-int64(ok))
	}
}

// TestLimitsComeBeforeTheGuardOnEveryPath: the same order on the fast
// path, the translated path, the Gemini API, and routed aliases (chat and
// Gemini): a request the key's RPM refuses is not inspected.
func TestLimitsComeBeforeTheGuardOnEveryPath(t *testing.T) {
	chat := `{"model":"%s","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}`
	gem := `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`
	tests := []struct{ name, path, body string }{
		{"fast path", "/v1/chat/completions", fmt.Sprintf(chat, "openai/gpt-4o-mini")},
		{"translated", "/v1/messages", fmt.Sprintf(chat, "openai/gpt-4o-mini")},
		{"gemini translated", "/v1beta/models/fast:generateContent", gem},
		{"routed", "/v1/chat/completions", fmt.Sprintf(chat, "routed")},
		{"gemini routed", "/v1beta/models/routed:generateContent", gem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := &countingHook{}
			e := newEnv(t, func(_ *Config, d *Deps) {
				rtr, err := router.New(router.Config{
					Deployments: []router.Deployment{{Name: "d", Provider: "openai", Model: "gpt-4o-mini"}},
					Aliases:     []router.Alias{{Name: "routed", Strategy: router.Fallback, Deployments: []string{"d"}}},
				}, router.Options{})
				if err != nil {
					t.Fatal(err)
				}
				opts := memory.Options{}
				d.Hooks.Request = hook
				d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy},
					Gate:   &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)},
					Limits: staticLimits{{ID: "key:k", RPM: 1}}}
			})
			for i, want := range []int{http.StatusOK, http.StatusTooManyRequests, http.StatusTooManyRequests} {
				if resp, b := e.do(t, http.MethodPost, tt.path, tt.body, anthHdr); resp.StatusCode != want {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, resp.StatusCode, want, b)
				}
			}
			if n := hook.n.Load(); n != 1 {
				t.Fatalf("request guard inspected %d bodies, want 1 (the admitted one)", n)
			}
			// The refusals still leave their usage rows, as before.
			if recs := e.usage.all(); len(recs) != 3 || recs[1].Status != http.StatusTooManyRequests {
				t.Fatalf("usage rows %+v, want 3 with the refusals' 429", recs)
			}
		})
	}
}

// TestGuardedRequestKeepsItsRequestCount: past the request step, a request
// counts against RPM whatever refuses it next (the guard, or tokens per
// minute), so refusals after a scan cannot buy unlimited scans; its
// concurrency slot is freed at once.
func TestGuardedRequestKeepsItsRequestCount(t *testing.T) {
	opts := memory.Options{}
	e := newEnv(t, func(_ *Config, d *Deps) {
		d.Hooks.Request = blockHook{}
		d.Routing.Gate = &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)}
		d.Routing.Limits = staticLimits{{ID: "key:k", RPM: 3, TPM: 1000, MaxParallel: 1}}
	})
	body := func(content string, maxTokens int) string {
		return fmt.Sprintf(`{"model":"openai/gpt-4o-mini","max_tokens":%d,"messages":[{"role":"user","content":%q}]}`, maxTokens, content)
	}
	steps := []struct {
		body       string
		wantStatus int
		wantCode   string
	}{
		{body("4111111111111111", 5), http.StatusForbidden, "request_blocked"},
		{body("hello", 5000), http.StatusBadRequest, "request_too_large_for_limit"},
		{body("hello", 5), http.StatusOK, ""}, // max_parallel 1: the slots were freed
		{body("hello", 5), http.StatusTooManyRequests, "rate_limit_exceeded"},
	}
	for i, s := range steps {
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", s.body, nil)
		if resp.StatusCode != s.wantStatus || !strings.Contains(string(b), s.wantCode) {
			t.Fatalf("request %d: status %d, want %d %s: %s", i+1, resp.StatusCode, s.wantStatus, s.wantCode, b)
		}
	}
}
