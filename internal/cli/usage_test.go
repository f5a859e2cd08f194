package cli

import (
	"encoding/json"
	"io"
	"net/http"
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
	f := strings.Fields(lines[1]) // KEY MODEL REQUESTS ERRORS ESTIMATED PROMPT COMPLETION EST.TOKENS COST
	if len(f) != 9 || f[2] != "2" || f[4] != "1" {
		t.Errorf("usage row %q: want 2 requests, 1 estimated", lines[1])
	}
	if tot := strings.Fields(lines[2]); len(tot) != 8 || tot[0] != "total" || tot[3] != "1" {
		t.Errorf("usage total %q: want 1 estimated", lines[2])
	}
}
