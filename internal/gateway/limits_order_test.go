package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
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
