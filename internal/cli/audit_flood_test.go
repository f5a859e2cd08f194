package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/auth"
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

// TestFailedAuthenticationsAreCounted: a burst of failed authentications
// (auth.failure, on the LLM API) or refused token requests (oauth.token)
// from one client writes a few entries — the first, the lockout's start,
// the first after it, and at shutdown a summary — that count every
// failure: an entry stands for itself and its details.repeats, a summary
// for its repeats. Without the counts an operator could not tell one bad
// guess from a flood.
func TestFailedAuthenticationsAreCounted(t *testing.T) {
	badKey, _, err := auth.NewKey() // well formed, unknown: checked even under lockout
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	tests := []struct {
		action string
		send   func(h *harness, i int) *http.Request
	}{
		{"auth.failure", func(h *harness, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, h.addr+"/v1/chat/completions",
				strings.NewReader(`{"model":"oa/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+[]string{badKey, "junk"}[i%2])
			return req
		}},
		{"oauth.token", func(h *harness, i int) *http.Request {
			form := url.Values{"grant_type": {"client_credentials"}, "client_secret": {[]string{badKey, "junk"}[i%2]},
				"resource": {h.addr + "/mcp"}}
			req, _ := http.NewRequest(http.MethodPost, h.addr+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			h := newHarness(t)
			h.useFakeUpstream()
			h.must("init")
			h.serve()
			for i := range n {
				resp, err := http.DefaultClient.Do(tt.send(h, i))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode < 400 {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			h.stop() // writes the summary of what is left
			var entries, total int
			sc := bufio.NewScanner(strings.NewReader(h.must("audit", "export", "--json")))
			for sc.Scan() {
				var e struct {
					Action, Outcome string
					Details         map[string]string
				}
				if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action != tt.action || e.Outcome != "denied" {
					continue
				}
				entries++
				r, _ := strconv.Atoi(e.Details["repeats"])
				total += r
				if e.Details["summary"] != "true" {
					total++
				}
			}
			if entries > 4 || total != n {
				t.Fatalf("%d refused requests left %d %s entries standing for %d, want at most 4 standing for %d",
					n, entries, tt.action, total, n)
			}
		})
	}
}
