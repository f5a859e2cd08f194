package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// panicOnce is a response hook with a bug: its first inspection panics.
type panicOnce struct{ done atomic.Bool }

func (h *panicOnce) InspectResponse(_ context.Context, _ apierr.Dialect, body []byte) ([]byte, error) {
	if h.done.CompareAndSwap(false, true) {
		panic("response hook bug")
	}
	return body, nil
}

func (h *panicOnce) Stream(context.Context, apierr.Dialect) StreamFilter { return nil }

// TestPanicInAnAttemptFreesTheDeployment: a panic inside a routed attempt
// (here a response hook's, which the server's recovery answers) lost the
// attempt's hold on its deployment, so a deployment with max_parallel 1
// refused every later call with 429 until restart; and the call's usage
// row said 200. The hold now goes back with the call, and the row says
// 500.
func TestPanicInAnAttemptFreesTheDeployment(t *testing.T) {
	hook := &panicOnce{}
	e, _ := routedEnvWith(t, func(_ *Config, d *Deps) { d.Hooks.Response = hook },
		router.Deployment{MaxParallel: 1})
	call := `{"model":"routed","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}`
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/messages", strings.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bw_clientkey")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("the panicking call answered %d; want the connection cut by the server's recovery", resp.StatusCode)
	}
	if !hook.done.Load() {
		t.Fatal("the hook never ran: the test did not exercise a panic")
	}
	for i := range 3 {
		if resp, b := e.do(t, http.MethodPost, "/v1/messages", call, anthHdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d after the panic: %d %s; want the deployment's slot back", i+1, resp.StatusCode, b)
		}
	}
	recs := e.usage.all()
	if len(recs) != 4 {
		t.Fatalf("%d usage rows, want 4 (the panicked call's too)", len(recs))
	}
	if recs[0].Status != http.StatusInternalServerError {
		t.Errorf("the panicked call's row has status %d, want 500", recs[0].Status)
	}
}
