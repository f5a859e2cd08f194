package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRefusalsCannotFloodTheAuditLog: authentication failures are audited
// once per client per minute (plus each lockout) precisely so a caller
// cannot turn cheap requests into durable writes. Two other refusals have
// no such bound, and both come before the key's rate limit, so a key
// limited to 1 request per minute still makes the server append (one
// immediate transaction with a full sync, kept forever unless retention is
// set) one hash-chained audit entry per request:
//   - x-bulwark-guard-skip sent by a key without guard:bypass (403,
//     guard.skip denied), a header-only change to any LLM request;
//   - POST /mcp with a key that holds no tools:* scope (403, tool.call
//     denied).
//
// On the shared 2-core test machine one sequential client writes about a
// thousand entries a second this way.
func TestRefusalsCannotFloodTheAuditLog(t *testing.T) {
	h := newHarness(t)
	h.useFakeUpstream()
	h.must("init")
	k := h.createKey("--name", "flood", "--scopes", "llm", "--rpm", "1")
	h.serve()
	post := func(path string, hdr map[string]string, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+k.Key)
		req.Header.Set("Content-Type", "application/json")
		for name, v := range hdr {
			req.Header.Set(name, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	entries := func() int { return strings.Count(h.must("audit", "export", "--json"), `"actor":"`+k.ID+`"`) }

	before := entries()
	const n = 100
	start := time.Now()
	for range n {
		if s := post("/v1/chat/completions", map[string]string{"x-bulwark-guard-skip": "pii"},
			`{"model":"oa/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); s != http.StatusForbidden {
			t.Fatalf("guard skip without guard:bypass: status %d, want 403", s)
		}
		if s := post("/mcp", map[string]string{"Accept": "application/json, text/event-stream"},
			`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); s != http.StatusForbidden {
			t.Fatalf("/mcp without a tools scope: status %d, want 403", s)
		}
	}
	took := time.Since(start)
	// A bound in the spirit of auth.failure: the first refusal of a kind
	// per key per minute (with a count), not one entry per request.
	if added := entries() - before; added > 10 {
		t.Fatalf("a key limited to 1 request/minute added %d audit entries with %d refused requests in %v (≈%.0f durable writes/s)",
			added, 2*n, took.Round(time.Millisecond), float64(added)/took.Seconds())
	}
}
