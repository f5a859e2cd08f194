package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// Usage rows hold what the call cost, whoever tries to make it look cheaper.

// TestDisconnectBeforeAnswerIsCharged: docs/limits.md — "When the
// upstream reported nothing (a cut stream, a client disconnect, a body
// without usage), the locally counted tokens (prompt from the body, …) at
// the worst-case tier". A client that hangs up while the upstream is still
// generating (the upstream has the whole prompt) must leave a row with the
// prompt estimated and a cost, not a free call.
func TestDisconnectBeforeAnswerIsCharged(t *testing.T) {
	prompt := strings.Repeat("lorem ipsum dolor sit amet ", 4000) // ~108 KB
	for _, stream := range []bool{false, true} {
		name := "non-stream"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.openai.SetFault(upstreamtest.Fault{Latency: 2 * time.Second})
			body := `{"model":"fast","messages":[{"role":"user","content":"` + prompt + `"}]`
			if stream {
				body += `,"stream":true`
			}
			body += `}`
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			deadline := time.Now().Add(3 * time.Second)
			for len(e.usage.all()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			recs := e.usage.all()
			if len(recs) != 1 || recs[0].Status != statusClientClosed {
				t.Fatalf("usage records = %+v, want one with status 499", recs)
			}
			r := recs[0]
			if r.PromptTokens == 0 || r.CostMicros == 0 || !r.Estimated {
				t.Errorf("499 after the upstream took a %d-byte prompt: prompt_tokens %d, cost %d micro-USD, estimated %v; want the prompt estimated and charged",
					len(body), r.PromptTokens, r.CostMicros, r.Estimated)
			}
		})
	}
}

// TestTranslatedUsageIsClamped: the fast path clamps an upstream's
// usage (usage.Tokens.clamped: "keeps hostile or broken upstream numbers
// from producing negative or absurd counts that would corrupt budgets").
// The same broken report reached through translation (an Anthropic client
// on an OpenAI upstream) must be held to the same bounds.
func TestTranslatedUsageIsClamped(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":10,"completion_tokens":-5000000,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":4000000000000000}}}`)
	}))
	t.Cleanup(up.Close)
	e := newEnv(t, withProvider(provider.Config{Name: "odd", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1"}))
	for _, c := range []struct{ name, path, body string }{
		{"fast path", "/v1/chat/completions", `{"model":"odd/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"translated", "/v1/messages", `{"model":"odd/gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		n := len(e.usage.all())
		resp, b := e.do(t, http.MethodPost, c.path, c.body, anthHdr)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, b)
		}
		r := e.usage.all()[n]
		t.Logf("%s: prompt %d completion %d cached %d cost %d", c.name, r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.CostMicros)
		if r.CompletionTokens < 0 || r.CachedTokens > r.PromptTokens {
			t.Errorf("%s: usage row prompt %d, completion %d, cached %d: negative or inconsistent counts recorded", c.name, r.PromptTokens, r.CompletionTokens, r.CachedTokens)
		}
	}
}
