package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/jsonscan"
)

// TestDeeplyNestedBodyIsRefused sends, through the whole serve stack, a
// request body of millions of nested brackets (17 MB, under the default
// 32 MB body limit) to every LLM endpoint that takes a body. gjson's recursive
// validator overflowed the goroutine stack on it — a fatal error that
// ended the process for every client, on one authenticated request. Each
// must now be a 400 that says the body is nested too deeply (not that it
// is invalid JSON), and the server must go on answering. A body within
// the gateway's limit but deeper than the guardrail's walk takes is
// refused the same way, naming the guardrail's limit. (/mcp decodes with
// encoding/json, whose depth limit refuses such a body.)
func TestDeeplyNestedBodyIsRefused(t *testing.T) {
	h := newHarness(t)
	h.useFakeUpstream()
	h.must("init")
	key := h.createKey("--name", "deep", "--scopes", "llm").Key
	h.serve()

	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Anthropic-Version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v (server logs: %.2000s)", path, err, h.logs.String())
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for _, depth := range []struct {
		n    int
		want string
	}{
		{8_500_000, fmt.Sprintf("nested more than %d levels deep", jsonscan.MaxDepth)},
		{guard.MaxDepth + 1, fmt.Sprintf("nested more than %d levels deep", guard.MaxDepth)},
	} {
		nest := strings.Repeat("[", depth.n) + strings.Repeat("]", depth.n)
		for _, tc := range []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"oa/gpt-4o-mini","messages":` + nest + `}`},
			{"/v1/embeddings", `{"model":"oa/text-embedding-3-small","input":` + nest + `}`},
			{"/v1/messages", `{"model":"oa/gpt-4o-mini","max_tokens":5,"messages":` + nest + `}`},
			{"/v1/messages/count_tokens", `{"model":"oa/gpt-4o-mini","messages":` + nest + `}`},
			{"/v1beta/models/oa/gpt-4o-mini:generateContent", `{"contents":` + nest + `}`},
			{"/v1beta/models/oa/gpt-4o-mini:countTokens", `{"contents":` + nest + `}`},
		} {
			if tc.path == "/v1/messages/count_tokens" && depth.n < jsonscan.MaxDepth {
				continue // an OpenAI provider cannot count Anthropic tokens: refused before the guardrail reads the body
			}
			status, body := post(tc.path, tc.body)
			if status != http.StatusBadRequest || !strings.Contains(body, depth.want) || strings.Contains(body, "valid JSON") {
				t.Fatalf("%d levels to %s: %d %.300s; want 400 saying %q", depth.n, tc.path, status, body, depth.want)
			}
		}
	}
	status, body := post("/v1/chat/completions", `{"model":"oa/gpt-4o-mini","messages":[{"role":"user","content":"still there?"}]}`)
	if status != http.StatusOK {
		t.Fatalf("after the deep bodies: %d %s", status, body)
	}
}
