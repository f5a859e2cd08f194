package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestInitPrintsAdminKeyOnceAndRefusesTwice(t *testing.T) {
	h := newHarness(t)
	out := h.must("init", "--json")
	var k createdKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || !strings.HasPrefix(k.Key, "sk-bw-") {
		t.Fatalf("init output %q", out)
	}
	if code, _ := h.run("", "init"); code == 0 {
		t.Fatal("second init created another admin key")
	}
	list := h.must("keys", "list", "--json")
	if strings.Contains(list, k.Key) || strings.Contains(list, k.Key[len(k.Key)-20:]) {
		t.Fatal("keys list shows a secret")
	}
}

func TestKeyLifecycleAgainstRunningServer(t *testing.T) {
	h := newHarness(t)
	h.serve()
	k := h.createKey("--name", "app")
	if got := h.status("/v1/models", k.Key); got != http.StatusOK {
		t.Fatalf("fresh key: %d", got)
	}

	// Rotation by the CLI: the old secret stops at once, the new one works.
	out := h.must("keys", "rotate", k.ID, "--json")
	var rotated createdKey
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated.Key == k.Key {
		t.Fatalf("rotate output %q", out)
	}
	took := eventually(t, 2*time.Second, "rotated-away key refused", func() bool { return h.status("/v1/models", k.Key) == http.StatusUnauthorized })
	if took > time.Second {
		t.Fatalf("rotation took %v to take effect, want ≤ 1s", took)
	}
	if got := h.status("/v1/models", rotated.Key); got != http.StatusOK {
		t.Fatalf("rotated key: %d", got)
	}

	// Revocation by the CLI on the same data dir, while serve runs.
	h.must("keys", "revoke", k.ID)
	took = eventually(t, 2*time.Second, "revoked key refused", func() bool { return h.status("/v1/models", rotated.Key) == http.StatusUnauthorized })
	if took > time.Second {
		t.Fatalf("revocation took %v to take effect, want ≤ 1s", took)
	}
}

func TestExpiredKeyFails(t *testing.T) {
	h := newHarness(t)
	h.serve()
	k := h.createKey("--name", "short", "--expires", "300ms")
	if got := h.status("/v1/models", k.Key); got != http.StatusOK {
		t.Fatalf("before expiry: %d", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got := h.status("/v1/models", k.Key); got != http.StatusUnauthorized {
		t.Fatalf("after expiry: %d", got)
	}
}

func TestUpdateChangesScopesNotSecret(t *testing.T) {
	h := newHarness(t)
	h.serve()
	admin := h.createKey("--name", "ops", "--scopes", "admin")
	if got := h.status("/api/admin/keys", admin.Key); got != http.StatusOK {
		t.Fatalf("admin key on admin API: %d", got)
	}
	h.must("keys", "update", admin.ID, "--scopes", "llm")
	eventually(t, 2*time.Second, "scope removal", func() bool { return h.status("/api/admin/keys", admin.Key) == http.StatusForbidden })
	if got := h.status("/v1/models", admin.Key); got != http.StatusOK {
		t.Fatalf("secret changed by update: %d", got)
	}
}

func TestUnknownScopeRefusedAtCreation(t *testing.T) {
	h := newHarness(t)
	code, _ := h.run("", "keys", "create", "--name", "x", "--scopes", "llm,root")
	if code == 0 || !strings.Contains(h.logs.String(), `unknown scope "root"`) {
		t.Fatalf("unknown scope accepted (exit %d): %s", code, h.logs.String())
	}
}

func TestAuthFailuresInDialectShape(t *testing.T) {
	h := newHarness(t)
	h.serve()
	tests := []struct {
		name, method, path, header, want string
		status                           int
	}{
		{"openai shape", "GET", "/v1/models", "Authorization: Bearer sk-bw-nope", `"type":"authentication_error"`, 401},
		{"anthropic shape", "POST", "/v1/messages", "x-api-key: sk-bw-nope", `"type":"error","error":{"type":"authentication_error"`, 401},
		{"missing key", "GET", "/v1/models", "", `"code":"invalid_api_key"`, 401},
		{"key in query", "GET", "/v1/models?key=sk-bw-abc", "", `credential_in_query`, 400},
		{"api_key in query", "GET", "/v1/models?api_key=whatever", "", `credential_in_query`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.addr+tt.path, strings.NewReader("{}"))
			if k, v, ok := strings.Cut(tt.header, ": "); ok {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want %d containing %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if resp.Header.Get("X-Request-Id") == "" || !strings.Contains(string(body), resp.Header.Get("X-Request-Id")) {
				t.Fatal("error body does not carry the request id")
			}
		})
	}
	if strings.Contains(h.logs.String(), "sk-bw-abc") {
		t.Fatal("a key from the query string reached the log")
	}
}

func TestAllHeaderFormsAccepted(t *testing.T) {
	h := newHarness(t)
	h.serve()
	k := h.createKey("--name", "hdr")
	for _, hdr := range []string{"Authorization", "x-api-key", "api-key", "x-goog-api-key"} {
		req, _ := http.NewRequest("GET", h.addr+"/v1/models", nil)
		v := k.Key
		if hdr == "Authorization" {
			v = "Bearer " + v
		}
		req.Header.Set(hdr, v)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", hdr, resp.StatusCode)
		}
	}
}

func TestLockoutSparesValidKeys(t *testing.T) {
	h := newHarness(t)
	h.serve()
	good := h.createKey("--name", "good")
	var last int
	for range 21 {
		last = h.status("/v1/models", "sk-bw-wrong")
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("21st failure got %d, want 429", last)
	}
	resp := h.get("/v1/models", "sk-bw-wrong")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("locked client: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := h.status("/v1/models", good.Key); got != http.StatusOK {
		t.Fatalf("valid key from a locked-out client: %d", got)
	}
	// Failures are audited, rate-limited: far fewer entries than attempts.
	out := h.must("audit", "export", "--json")
	if n := strings.Count(out, `"action":"auth.failure"`); n < 1 || n > 3 {
		t.Fatalf("%d auth.failure audit entries for 22 failures", n)
	}
}

// TestListCommands holds the list subcommands to what scripts and operators
// read: --json is an array ([] when empty, never null), --tenant filters,
// the table has its header and one aligned row per record, and no secret is
// ever printed (a provider's credential shows only how it is held).
func TestListCommands(t *testing.T) {
	const providerSecret = "sk-upstream-list-secret-0123456789"
	h := newHarness(t)
	emptyJSON := h.must("keys", "list", "--json")
	h.must("tenants", "create", "team")
	app := h.createKey("--name", "app")
	gone := h.createKey("--name", "gone", "--tenant", "team")
	h.must("keys", "revoke", gone.ID)
	if code, _ := h.run(providerSecret+"\n", "providers", "add", "--name", "up", "--type", "openai",
		"--base-url", "http://127.0.0.1:1/v1", "--models", "gpt-a,gpt-b", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add: %s", h.logs.String())
	}
	h.must("providers", "add", "--name", "env", "--type", "anthropic", "--base-url", "http://127.0.0.1:1", "--api-key-env", "UP_KEY")
	h.must("providers", "add", "--name", "bare", "--type", "mock", "--base-url", "http://127.0.0.1:1", "--tenant", "team")

	tests := []struct {
		name string
		out  string
		want [][]string // the table's lines split into fields, in order; nil for JSON
		json int        // for --json: how many records
	}{
		{"keys json before any key", emptyJSON, nil, 0},
		{"keys json", h.must("keys", "list", "--json"), nil, 2},
		{"keys json of a tenant", h.must("keys", "list", "--json", "--tenant", "team"), nil, 1},
		{"keys json of a tenant without keys", h.must("keys", "list", "--json", "--tenant", "nobody"), nil, 0},
		{"keys table of a tenant", h.must("keys", "list", "--tenant", "team"), [][]string{
			{"ID", "TENANT", "NAME", "SCOPES", "STATUS", "CREATED"},
			{gone.ID, "team", "gone", "llm", "revoked", "*"},
		}, 0},
		{"keys table of a tenant without keys", h.must("keys", "list", "--tenant", "nobody"), [][]string{
			{"ID", "TENANT", "NAME", "SCOPES", "STATUS", "CREATED"},
		}, 0},
		{"keys table of the default tenant", h.must("keys", "list", "--tenant", "default"), [][]string{
			{"ID", "TENANT", "NAME", "SCOPES", "STATUS", "CREATED"},
			{app.ID, "default", "app", "llm", "active", "*"},
		}, 0},
		{"providers json", h.must("providers", "list", "--json"), nil, 3},
		{"providers json of a tenant without providers", h.must("providers", "list", "--json", "--tenant", "nobody"), nil, 0},
		{"providers table", h.must("providers", "list", "--tenant", "default"), [][]string{
			{"TENANT", "NAME", "TYPE", "BASE", "URL", "MODELS", "CREDENTIAL"},
			{"default", "env", "anthropic", "http://127.0.0.1:1", "$UP_KEY"},
			{"default", "up", "openai", "http://127.0.0.1:1/v1", "gpt-a,gpt-b", "encrypted"},
		}, 0},
		{"tenants json", h.must("tenants", "list", "--json"), nil, 2},
		{"tenants", h.must("tenants", "list"), [][]string{{"default"}, {"team"}}, 0},
		{"providers table of a tenant", h.must("providers", "list", "--tenant", "team"), [][]string{
			{"TENANT", "NAME", "TYPE", "BASE", "URL", "MODELS", "CREDENTIAL"},
			{"team", "bare", "mock", "http://127.0.0.1:1", "none"},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, secret := range []string{providerSecret, app.Key, gone.Key} {
				if strings.Contains(tt.out, secret) || strings.Contains(tt.out, secret[len(secret)-16:]) {
					t.Fatalf("a secret in the list output:\n%s", tt.out)
				}
			}
			if tt.want == nil {
				checkJSONList(t, tt.out, tt.json)
				return
			}
			checkTable(t, tt.out, tt.want)
		})
	}
}

// checkJSONList fails t unless out is one JSON array of n records.
func checkJSONList(t *testing.T, out string, n int) {
	t.Helper()
	var rows []map[string]any
	if !strings.HasPrefix(out, "[") || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != n {
		t.Fatalf("want a JSON array of %d records, got %q", n, out)
	}
}

// checkTable fails t unless out has exactly the lines of want, field by
// field ("*" matches an RFC 3339 time), with every column starting at the
// same offset on every line.
func checkTable(t *testing.T, out string, want [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		got := strings.Fields(line)
		if len(got) != len(want[i]) {
			t.Fatalf("line %d = %q, want fields %q", i, line, want[i])
		}
		for j, w := range want[i] {
			if w == "*" {
				if _, err := time.Parse(time.RFC3339, got[j]); err != nil {
					t.Fatalf("line %d field %d = %q, want an RFC 3339 time", i, j, got[j])
				}
				continue
			}
			if got[j] != w {
				t.Fatalf("line %d = %q, want fields %q", i, line, want[i])
			}
		}
	}
	if len(want[0]) < 2 {
		return
	}
	// The second column starts where the header's does: the table is aligned.
	col := strings.Index(lines[0], " "+strings.Fields(lines[0])[1]) + 1
	for i, line := range lines[1:] {
		if len(line) <= col || line[col-1] != ' ' || line[col] == ' ' {
			t.Fatalf("row %d not aligned with the header at column %d:\n%s", i+1, col, out)
		}
	}
}
