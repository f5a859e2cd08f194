package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// hookRec records call-hook invocations.
type hookRec struct {
	name    string
	deny    bool
	befores *[]string
}

func (h hookRec) BeforeCall(_ context.Context, c *Call) error {
	*h.befores = append(*h.befores, "before:"+h.name)
	if h.deny {
		return apierr.RateLimited("budget_exceeded", "budget exhausted", 2*time.Second)
	}
	return nil
}

func (h hookRec) AfterCall(_ context.Context, c *Call, rec usage.Record) {
	*h.befores = append(*h.befores, "after:"+h.name+":"+http.StatusText(rec.Status))
}

func TestCallHooksRunOncePaired(t *testing.T) {
	tests := []struct {
		name       string
		denySecond bool
		model      string
		wantStatus int
		want       string
	}{
		{"both run, after in reverse", false, "fast", 200, "before:a,before:b,after:b:OK,after:a:OK"},
		{"second denies, only first settles", true, "fast", 429, "before:a,before:b,after:a:Too Many Requests"},
		{"upstream failure still settles", false, "mock/error-500", 502, "before:a,before:b,after:b:Bad Gateway,after:a:Bad Gateway"},
		{"unknown model runs no hook", false, "nope/x", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			e := newEnv(t, func(_ *Config, d *Deps) {
				d.Hooks.Calls = []CallHook{hookRec{name: "a", befores: &log}, hookRec{name: "b", deny: tt.denySecond, befores: &log}}
			})
			resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"`+tt.model+`","messages":[]}`, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got := strings.Join(log, ","); got != tt.want {
				t.Errorf("hooks = %s, want %s", got, tt.want)
			}
		})
	}
}

type blockHook struct{}

func (blockHook) InspectRequest(_ context.Context, _ apierr.Dialect, body []byte) ([]byte, error) {
	if bytes.Contains(body, []byte("4111111111111111")) {
		return nil, errors.New("card number")
	}
	return bytes.Replace(body, []byte("secret-word"), []byte("[REDACTED]"), 1), nil
}

type upperHook struct{}

func (upperHook) InspectResponse(_ context.Context, _ apierr.Dialect, b []byte) ([]byte, error) {
	return bytes.ToUpper(b), nil
}

func (upperHook) Stream(context.Context, apierr.Dialect) StreamFilter { return &upperFilter{} }

// upperFilter upper-cases text and holds back the last delta until Flush,
// as a streaming redactor would.
type upperFilter struct{ held string }

func (f *upperFilter) Text(d string) (string, error) {
	out := f.held
	f.held = strings.ToUpper(d)
	return out, nil
}

func (f *upperFilter) Flush() (string, error) { h := f.held; f.held = ""; return h, nil }

func TestGuardHooks(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantIn           string // in the client's response
		wantUpstream     string // in what the upstream received
	}{
		{"request blocked", "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"4111111111111111"}]}`, 403, "request_blocked", ""},
		{"request redacted", "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"my secret-word"}]}`, 200, "", "[REDACTED]"},
		{"openai stream filtered", "/v1/chat/completions", `{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"abc def ghi"}]}`, 200, `"content":"GHI"`, ""},
		{"openai held text arrives before finish_reason, with the stream's id", "/v1/chat/completions", `{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"abc def ghi"}]}`, 200, `,"created":1700000000,"model":"echo","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"GHI"},"finish_reason":null}]}` + "\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"", ""},
		{"anthropic stream filtered", "/v1/messages", `{"model":"mock/echo","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"abc def ghi"}]}`, 200, `"text":"ABC DEF "`, ""},
		{"non-stream filtered", "/v1/messages", `{"model":"mock/echo","max_tokens":5,"messages":[{"role":"user","content":"abc"}]}`, 200, `"TEXT":"ABC"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(_ *Config, d *Deps) { d.Hooks.Request, d.Hooks.Response = blockHook{}, upperHook{} })
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, anthHdr)
			if resp.StatusCode != tt.wantStatus || !bytes.Contains(b, []byte(tt.wantIn)) {
				t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, tt.wantStatus, tt.wantIn, b)
			}
			if tt.wantUpstream != "" && !bytes.Contains(e.openai.Last().Body, []byte(tt.wantUpstream)) {
				t.Errorf("upstream body %s lacks %q", e.openai.Last().Body, tt.wantUpstream)
			}
		})
	}
}
