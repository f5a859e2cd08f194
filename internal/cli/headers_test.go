package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRequestIDHeadersPerDialect checks, through the whole serve stack,
// that each dialect's SDK finds the request id where it reads it —
// x-request-id (OpenAI) and request-id (Anthropic), on answers and on
// errors — and that an OpenAI stream carries no header it does not need:
// its header map stays within Go's small-map size (8 entries), which a
// ninth header (request-id on OpenAI answers) broke, growing every
// response's header map and its clone into full hash tables.
func TestRequestIDHeadersPerDialect(t *testing.T) {
	h := newHarness(t)
	h.useFakeUpstream()
	h.must("init")
	key := h.createKey("--name", "hdr", "--scopes", "llm").Key
	h.serve()

	tests := []struct {
		name, path, body string
		status           int
		anthropic        bool
	}{
		{"openai stream", "/v1/chat/completions", `{"model":"oa/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200, false},
		{"openai answer", "/v1/chat/completions", `{"model":"oa/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, 200, false},
		{"openai error", "/v1/chat/completions", `{"model":`, 400, false},
		{"anthropic stream", "/v1/messages", `{"model":"an/claude-sonnet-4-5","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200, true},
		{"anthropic answer", "/v1/messages", `{"model":"an/claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 200, true},
		{"anthropic error", "/v1/messages", `{"model":`, 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.addr+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			id := resp.Header.Get("X-Request-Id")
			if !strings.HasPrefix(id, "req_") {
				t.Fatalf("x-request-id %q", id)
			}
			if got := resp.Header.Get("Request-Id"); tt.anthropic && got != id || !tt.anthropic && got != "" {
				t.Errorf("request-id %q with x-request-id %q", got, id)
			}
			// Every header but Date and Content-Length (added by net/http
			// as it writes; the second when a stream's whole answer came in
			// one upstream read, see relayer.pass) was in the handler's map.
			n := len(resp.Header)
			for _, added := range []string{"Date", "Content-Length"} {
				if _, ok := resp.Header[added]; ok {
					n--
				}
			}
			if tt.name == "openai stream" && n > 8 {
				t.Errorf("%d response headers, more than a small map holds: %v", n, resp.Header)
			}
		})
	}
}

// GET /v1/models answers in the Anthropic shape when the caller sent
// anthropic-version — and so must every refusal before the gateway: a
// wrong key (anthropic-sdk-go reads the error type from the body and
// err.RequestID from the request-id header), a key without the llm scope.
// The auth middleware chose the shape from the path alone.
func TestModelsRefusalsInAnthropicShape(t *testing.T) {
	h := newHarness(t)
	h.must("init")
	noLLM := h.createKey("--name", "ro", "--scopes", "admin").Key
	h.serve()
	for _, tt := range []struct {
		name, key string
		status    int
		errType   string
	}{
		{"unknown key", "sk-bw-nope", http.StatusUnauthorized, "authentication_error"},
		{"key without llm scope", noLLM, http.StatusForbidden, "permission_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.addr+"/v1/models", nil)
			req.Header.Set("X-Api-Key", tt.key)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			_ = json.Unmarshal(body, &got)
			if resp.StatusCode != tt.status || got.Type != "error" || got.Error.Type != tt.errType || !strings.HasPrefix(resp.Header.Get("Request-Id"), "req_") {
				t.Fatalf("%d, request-id %q: %s; want %d {\"type\":\"error\",\"error\":{\"type\":%q}} with request-id",
					resp.StatusCode, resp.Header.Get("Request-Id"), body, tt.status, tt.errType)
			}
		})
	}
}
