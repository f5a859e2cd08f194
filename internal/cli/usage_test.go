package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// `bulwark usage` tells tokens the upstream reported from tokens counted
// locally: a stream cut before its usage chunk is stored as estimated, and
// the summary (table and --json) counts such requests and their tokens.
func TestUsageShowsEstimated(t *testing.T) {
	h := newHarness(t)
	up := h.useFakeUpstream()
	h.must("init")
	k := h.createKey("--name", "est", "--scopes", "llm")
	h.serve()
	chat := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.addr+"/v1/chat/completions",
			strings.NewReader(`{"model":"oa/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"a b c d e f g h i j k l"}]}`))
		req.Header.Set("Authorization", "Bearer "+k.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	chat() // usage reported by the upstream
	up.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
	chat()   // cut before its usage chunk: estimated
	h.stop() // flush the usage rows

	var rows []struct {
		Requests                  int64 `json:"requests"`
		PromptTokens              int64 `json:"prompt_tokens"`
		EstimatedRequests         int64 `json:"estimated_requests"`
		EstimatedPromptTokens     int64 `json:"estimated_prompt_tokens"`
		EstimatedCompletionTokens int64 `json:"estimated_completion_tokens"`
	}
	out := h.must("usage", "--key", k.ID, "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("usage --json %q: %v", out, err)
	}
	r := rows[0]
	if r.Requests != 2 || r.EstimatedRequests != 1 || r.EstimatedPromptTokens == 0 || r.EstimatedPromptTokens >= r.PromptTokens {
		t.Errorf("usage --json %s: want 2 requests, 1 of them estimated, with part of the prompt tokens", out)
	}

	table := h.must("usage", "--key", k.ID)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "ESTIMATED") || !strings.Contains(lines[0], "EST. TOKENS") {
		t.Fatalf("usage table:\n%s", table)
	}
	f := strings.Fields(lines[1]) // KEY MODEL REQUESTS ERRORS ESTIMATED PROMPT COMPLETION EST.TOKENS (3 CACHE columns) COST
	if len(f) != 12 || f[2] != "2" || f[4] != "1" {
		t.Errorf("usage row %q: want 2 requests, 1 estimated", lines[1])
	}
	if tot := strings.Fields(lines[2]); len(tot) != 11 || tot[0] != "total" || tot[3] != "1" {
		t.Errorf("usage total %q: want 1 estimated", lines[2])
	}
}

// `bulwark usage` shows the cache parts of the prompt, the one-hour cache
// writes among them (Anthropic bills those at twice the input price, the
// five-minute rest at 1.25×), so a cost can be explained from its tokens:
// an upstream's report of one-hour writes reaches the usage row and the
// summary (table and --json).
func TestUsageShowsOneHourCacheWrites(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
			"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":10,
			"cache_read_input_tokens":1000,"cache_creation_input_tokens":3000,"output_tokens":5,
			"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000}}}`)
	}))
	t.Cleanup(up.Close)
	h := newHarness(t)
	t.Setenv("FAKE_UPSTREAM_KEY", "sk-upstream-fake-test")
	h.useConfig("providers:\n  - {name: an, type: anthropic, base_url: " + up.URL + ", api_key_env: FAKE_UPSTREAM_KEY}\n")
	h.must("init")
	k := h.createKey("--name", "cache", "--scopes", "llm")
	h.serve()
	req, _ := http.NewRequest(http.MethodPost, h.addr+"/v1/messages",
		strings.NewReader(`{"model":"an/claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", k.Key)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("messages: status %d", resp.StatusCode)
	}
	h.stop() // flush the usage row

	var rows []struct {
		PromptTokens       int64 `json:"prompt_tokens"`
		CachedTokens       int64 `json:"cached_tokens"`
		CacheWriteTokens   int64 `json:"cache_write_tokens"`
		CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	}
	out := h.must("usage", "--key", k.ID, "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("usage --json %q: %v", out, err)
	}
	if r := rows[0]; r.PromptTokens != 4010 || r.CachedTokens != 1000 || r.CacheWriteTokens != 3000 || r.CacheWrite1hTokens != 2000 {
		t.Errorf("usage --json %s: want 4010 prompt tokens, 1000 read from the cache, 3000 written, 2000 of them for an hour", out)
	}
	table := h.must("usage", "--key", k.ID)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "CACHE READ  CACHE WRITE  CACHE WRITE 1H") {
		t.Fatalf("usage table:\n%s", table)
	}
	// KEY MODEL REQUESTS ERRORS ESTIMATED PROMPT COMPLETION EST.TOKENS CACHE-READ CACHE-WRITE CACHE-WRITE-1H COST
	if f := strings.Fields(lines[1]); len(f) != 12 || f[8] != "1000" || f[9] != "3000" || f[10] != "2000" {
		t.Errorf("usage row %q: want 1000, 3000 and 2000 in the cache columns", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 11 || f[0] != "total" || f[9] != "2000" {
		t.Errorf("usage total %q: want 2000 one-hour cache writes", lines[2])
	}
}
