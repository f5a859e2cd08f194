package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
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
	f := strings.Fields(lines[1]) // KEY MODEL ENDPOINT REQUESTS ERRORS ESTIMATED PROMPT COMPLETION EST.TOKENS (3 CACHE columns) COST
	if len(f) != 13 || f[2] != "chat.completions" || f[3] != "2" || f[5] != "1" {
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
	if st := h.postStatus("/v1/messages", k.Key, `{"model":"an/claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`); st != http.StatusOK {
		t.Fatalf("messages: status %d", st)
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
	// KEY MODEL ENDPOINT REQUESTS ERRORS ESTIMATED PROMPT COMPLETION EST.TOKENS CACHE-READ CACHE-WRITE CACHE-WRITE-1H COST
	if f := strings.Fields(lines[1]); len(f) != 13 || f[9] != "1000" || f[10] != "3000" || f[11] != "2000" {
		t.Errorf("usage row %q: want 1000, 3000 and 2000 in the cache columns", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 11 || f[0] != "total" || f[9] != "2000" {
		t.Errorf("usage total %q: want 2000 one-hour cache writes", lines[2])
	}
}

// `bulwark usage` tells a refused token count from a refused call: the
// summary is grouped by endpoint (table and --json), --endpoint narrows
// it to one, a name no row is written with is refused rather than
// answered with an empty table, and rows written before the endpoint was
// stored show as "-".
func TestUsageShowsEndpoint(t *testing.T) {
	h := newHarness(t)
	h.useConfig("providers:\n  - {name: mock, type: mock}\n")
	h.must("init")
	k := h.createKey("--name", "counter", "--scopes", "llm", "--rpm", "1")
	h.serve()
	post := func(path, body string, want int) {
		t.Helper()
		if st := h.postStatus(path, k.Key, body); st != want {
			t.Fatalf("%s: status %d, want %d", path, st, want)
		}
	}
	const count = `{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}`
	const call = `{"model":"mock/echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	post("/v1/messages/count_tokens", count, http.StatusOK) // an admitted count writes no row
	post("/v1/messages/count_tokens", count, http.StatusTooManyRequests)
	post("/v1beta/models/mock/echo:countTokens", `{"contents":[{"parts":[{"text":"hi"}]}]}`, http.StatusTooManyRequests)
	post("/v1/messages", call, http.StatusOK)
	post("/v1/messages", call, http.StatusTooManyRequests)
	h.stop() // flush the usage rows

	// A row as a version that did not store endpoints wrote it.
	s, err := sqlite.Open(context.Background(), filepath.Join(h.dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	err = s.InsertUsage(context.Background(), []store.Usage{{Time: time.Now(), RequestID: "old", Tenant: "default", KeyID: k.ID,
		Model: "mock/echo", Provider: "mock", PromptTokens: 3, Status: http.StatusOK}})
	_ = s.Close()
	if err != nil {
		t.Fatal(err)
	}

	type row struct {
		Endpoint string `json:"endpoint"`
		Requests int64  `json:"requests"`
		Errors   int64  `json:"errors"`
	}
	var rows []row
	out := h.must("usage", "--key", k.ID, "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("usage --json %q: %v", out, err)
	}
	want := []row{{"", 1, 0}, {"gemini.countTokens", 1, 1}, {"messages", 2, 1}, {"messages.count_tokens", 1, 1}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("usage --json: %+v, want %+v", rows, want)
	}

	out = h.must("usage", "--key", k.ID, "--endpoint", "messages.count_tokens", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil || !reflect.DeepEqual(rows, []row{{"messages.count_tokens", 1, 1}}) {
		t.Errorf("usage --endpoint messages.count_tokens --json %q (%v): want the refused count's row alone", out, err)
	}

	table := h.must("usage", "--key", k.ID)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "KEY") || strings.Fields(lines[0])[2] != "ENDPOINT" {
		t.Fatalf("usage table:\n%s", table)
	}
	for i, ep := range []string{"-", "gemini.countTokens", "messages", "messages.count_tokens"} {
		if f := strings.Fields(lines[i+1]); len(f) != 13 || f[2] != ep {
			t.Errorf("usage row %q: want endpoint %s", lines[i+1], ep)
		}
	}
	if f := strings.Fields(lines[5]); len(f) != 11 || f[0] != "total" || f[1] != "5" || f[2] != "3" {
		t.Errorf("usage total %q: want 5 requests, 3 errors", lines[5])
	}

	if code, out := h.run("", "usage", "--endpoint", "count_tokens"); code != 2 || out != "" ||
		!strings.Contains(h.logs.String(), "messages.count_tokens") {
		t.Errorf("usage --endpoint count_tokens: exit %d, output %q; want 2 and the endpoint names on stderr", code, out)
	}
}
