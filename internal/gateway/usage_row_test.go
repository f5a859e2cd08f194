package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
	"github.com/bulwarkhq/bulwark/internal/usage"
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

// TestUsageRowNamesTheEndpoint: a usage row did not say which API method
// it was for, so a refused count's 429 could not be told from a refused
// call's. Every row now names its endpoint: each generation method,
// Gemini's stream apart from its single answer, and each token count
// (which writes a row only when a limit refuses it).
func TestUsageRowNamesTheEndpoint(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	msg := `{"model":"MODEL","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}`
	contents := `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`
	calls := []struct{ name, path, body, want string }{
		{"chat", "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`, usage.EndpointChatCompletions},
		{"chat stream", "/v1/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`, usage.EndpointChatCompletions},
		{"embeddings", "/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":"hello"}`, usage.EndpointEmbeddings},
		{"messages", "/v1/messages", strings.Replace(msg, "MODEL", "smart", 1), usage.EndpointMessages},
		{"messages translated", "/v1/messages", strings.Replace(msg, "MODEL", "fast", 1), usage.EndpointMessages},
		{"gemini", "/v1beta/models/flash:generateContent", contents, usage.EndpointGeminiGenerate},
		{"gemini routed", "/v1beta/models/groute:generateContent", contents, usage.EndpointGeminiGenerate},
		{"gemini stream", "/v1beta/models/flash:streamGenerateContent?alt=sse", contents, usage.EndpointGeminiStream},
		{"gemini array stream", "/v1beta/models/smart:streamGenerateContent", contents, usage.EndpointGeminiStream},
	}
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()), withGeminiRouting(t))
	for _, c := range calls {
		n := len(e.usage.all())
		if resp, b := e.do(t, http.MethodPost, c.path, c.body, anthHdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.name, resp.StatusCode, b)
		}
		if recs := e.usage.all(); len(recs) != n+1 || recs[n].Endpoint != c.want {
			t.Errorf("%s: usage rows %+v; want one more, for %q", c.name, recs[n:], c.want)
		}
	}

	// A key allowed one count and one call a minute: its second count, in
	// either dialect, and its second call are refused, each row naming
	// what was refused.
	limits, _ := withKeyLimits(limit.Subject{ID: "key:k", RPM: 1})
	e = newEnv(t, limits, withGemini(gem, prometheus.NewRegistry()))
	steps := []struct {
		path, body string
		status     int
		want       string // the endpoint of the row written, "" for none
	}{
		{"/v1/messages/count_tokens", `{"model":"smart","messages":[{"role":"user","content":"hello"}]}`, http.StatusOK, ""},
		{"/v1beta/models/smart:countTokens", contents, http.StatusTooManyRequests, usage.EndpointGeminiCountTokens},
		{"/v1/messages/count_tokens", `{"model":"smart","messages":[{"role":"user","content":"hello"}]}`, http.StatusTooManyRequests, usage.EndpointMessagesCount},
		{"/v1/messages", strings.Replace(msg, "MODEL", "smart", 1), http.StatusOK, usage.EndpointMessages},
		{"/v1/messages", strings.Replace(msg, "MODEL", "smart", 1), http.StatusTooManyRequests, usage.EndpointMessages},
	}
	for i, s := range steps {
		n := len(e.usage.all())
		if resp, b := e.do(t, http.MethodPost, s.path, s.body, anthHdr); resp.StatusCode != s.status {
			t.Fatalf("step %d (%s): status %d, want %d: %s", i+1, s.path, resp.StatusCode, s.status, b)
		}
		recs := e.usage.all()[n:]
		switch {
		case s.want == "" && len(recs) != 0:
			t.Errorf("step %d (%s): usage rows %+v, want none", i+1, s.path, recs)
		case s.want != "" && (len(recs) != 1 || recs[0].Endpoint != s.want || recs[0].Status != s.status):
			t.Errorf("step %d (%s): usage rows %+v, want one for %q with %d", i+1, s.path, recs, s.want, s.status)
		}
	}
}
