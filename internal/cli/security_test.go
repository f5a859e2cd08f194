package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTenantAdminCannotEscalate: an admin key of one tenant cannot mint or
// become admin:global, grant guard:bypass, touch the global admin key, or
// manage providers (which decide where credentials are sent).
func TestTenantAdminCannotEscalate(t *testing.T) {
	h := newHarness(t)
	var root createdKey
	if err := json.Unmarshal([]byte(h.must("init", "--json")), &root); err != nil {
		t.Fatal(err)
	}
	h.must("tenants", "create", "acme")
	ta := h.createKey("--name", "acme-admin", "--tenant", "acme", "--scopes", "admin,llm")
	def := h.createKey("--name", "default-admin", "--scopes", "admin,llm") // same tenant as the root key
	h.serve()

	tests := []struct {
		name, method, path, key, body string
		want                          int
	}{
		{"mint admin:global", "POST", "/api/admin/keys", ta.Key, `{"name":"x","scopes":["admin:global","llm"]}`, 403},
		{"mint guard:bypass", "POST", "/api/admin/keys", ta.Key, `{"name":"x","scopes":["guard:bypass"]}`, 403},
		{"mint a scope it lacks", "POST", "/api/admin/keys", ta.Key, `{"name":"x","scopes":["tools:exec"]}`, 403},
		{"self-patch to admin:global", "PATCH", "/api/admin/keys/" + ta.ID, ta.Key, `{"scopes":["admin:global"]}`, 403},
		{"rotate the global admin key", "POST", "/api/admin/keys/" + root.ID + "/rotate", def.Key, ``, 403},
		{"revoke the global admin key", "DELETE", "/api/admin/keys/" + root.ID, def.Key, ``, 403},
		{"add a provider", "POST", "/api/admin/providers", ta.Key, `{"name":"p","type":"openai","base_url":"http://169.254.169.254/v1"}`, 403},
		{"remove a provider", "DELETE", "/api/admin/providers/p", ta.Key, ``, 403},
		{"metrics of every tenant", "GET", "/metrics", ta.Key, ``, 403},
		{"allowed: mint what it holds", "POST", "/api/admin/keys", ta.Key, `{"name":"ok","scopes":["llm"]}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := h.call(tt.method, tt.path, tt.key, tt.body); code != tt.want {
				t.Fatalf("%d %s, want %d", code, body, tt.want)
			}
		})
	}
	if got := h.status("/api/admin/keys", root.Key); got != http.StatusOK {
		t.Fatalf("the global admin key was changed: %d", got)
	}
}

// TestMasterKeyNeverAProviderCredential: nobody — not even a global admin
// or the config file — can make a provider send Bulwark's own variables
// (the master key) upstream.
func TestMasterKeyNeverAProviderCredential(t *testing.T) {
	const master = "7d1f0c9e4b2a58e3a6c4d2f1b0e9a8c76d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
	var seen atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer up.Close()
	h := newHarness(t)
	h.env["BULWARK_MASTER_KEY"] = master
	t.Setenv("BULWARK_MASTER_KEY", master)
	var root createdKey
	_ = json.Unmarshal([]byte(h.must("init", "--json")), &root)
	if code, _ := h.run("", "providers", "add", "--name", "evil", "--type", "openai", "--base-url", up.URL, "--api-key-env", "BULWARK_MASTER_KEY"); code == 0 {
		t.Fatal("CLI accepted BULWARK_MASTER_KEY as a provider credential")
	}
	h.serve()
	if os.Getenv("BULWARK_MASTER_KEY") != "" {
		t.Error("serve left the master key in its environment")
	}
	code, body := h.call("POST", "/api/admin/providers", root.Key, `{"name":"evil","type":"openai","base_url":"`+up.URL+`","api_key_env":"BULWARK_MASTER_KEY"}`)
	if code != http.StatusBadRequest {
		t.Fatalf("admin API accepted BULWARK_MASTER_KEY: %d %s", code, body)
	}
	h.call("POST", "/v1/chat/completions", root.Key, `{"model":"evil/m","messages":[{"role":"user","content":"hi"}]}`)
	if v, _ := seen.Load().(string); strings.Contains(v, master[:16]) {
		t.Fatal("the master key reached an upstream")
	}
}

// A base_url with a user and password is refused wherever a provider is
// declared — CLI, admin API, config file — and the password is printed
// nowhere: not in the refusal, not by providers list, not in the audit log.
// (It was stored in clear, listed and audited, and no upstream call sent
// it.)
func TestProviderBaseURLUserinfoRefused(t *testing.T) {
	const pw = "s3cret-basic-auth-pw-0123456789"
	base := "http://proxyuser:" + pw + "@127.0.0.1:1/v1"
	h := newHarness(t)
	var root createdKey
	_ = json.Unmarshal([]byte(h.must("init", "--json")), &root)
	code, out := h.run("", "providers", "add", "--name", "up", "--type", "openai", "--base-url", base)
	if code == 0 || strings.Contains(out+h.logs.String(), pw) || !strings.Contains(h.logs.String(), "must not carry a user or password") {
		t.Fatalf("providers add: exit %d, out %q, stderr %q", code, out, h.logs.String())
	}
	h.serve()
	status, body := h.call("POST", "/api/admin/providers", root.Key, `{"name":"up","type":"anthropic","base_url":"`+base+`","api_key_env":"UP_KEY"}`)
	if status != http.StatusBadRequest || strings.Contains(body, pw) {
		t.Fatalf("admin API: %d %s", status, body)
	}
	if list := h.must("providers", "list"); strings.Contains(list, "proxyuser") {
		t.Fatalf("providers list:\n%s", list)
	}
	if audit := h.must("audit", "export", "--json"); strings.Contains(audit, pw) {
		t.Fatal("the password reached the audit log")
	}
	h.useConfig("providers:\n  - {name: up, type: openai, base_url: \"" + base + "\"}\n")
	if code, out := h.run("", "config", "validate"); code == 0 || strings.Contains(out+h.logs.String(), pw) || !strings.Contains(h.logs.String(), "must not carry a user or password") {
		t.Fatalf("config validate: exit %d, out %q, stderr %q", code, out, h.logs.String())
	}
}

// An upstream (an OpenAI-compatible proxy, a self-hosted server) that
// echoes the credential it was sent in a 400 error.message: the gateway
// passes that message on to the client after scrubbing "secret-shaped"
// words, but a credential that is not shaped like one (all letters, or
// shorter than 20 characters) goes to the client and the log verbatim —
// although the gateway knows the exact value it must never pass on.
func TestUpstreamEchoedCredentialNeverReachesClient(t *testing.T) {
	const cred = "correct-horse-battery-staple"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		_, _ = fmt.Fprintf(w, `{"error":{"message":"model x is not available for key %s","type":"invalid_request_error"}}`, tok)
	}))
	defer up.Close()
	h := newHarness(t)
	var root createdKey
	_ = json.Unmarshal([]byte(h.must("init", "--json")), &root)
	if code, _ := h.run(cred+"\n", "providers", "add", "--name", "up", "--type", "openai", "--base-url", up.URL+"/v1", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add: %s", h.logs.String())
	}
	h.serve()
	code, body := h.call("POST", "/v1/chat/completions", root.Key, `{"model":"up/x","messages":[{"role":"user","content":"hi"}]}`)
	if strings.Contains(h.logs.String(), cred) {
		t.Errorf("the provider credential reached the server log")
	}
	if strings.Contains(body, cred) {
		t.Fatalf("the provider credential reached the client: %d %s", code, body)
	}
}

func TestReadSecretLineLimits(t *testing.T) {
	if _, err := readSecretLine(strings.NewReader(strings.Repeat("a", 5000) + "\n")); err == nil {
		t.Fatal("a secret longer than 4096 bytes was silently cut")
	}
	if s, err := readSecretLine(strings.NewReader("abc\r\n")); err != nil || s != "abc" {
		t.Fatalf("%q %v", s, err)
	}
	if _, err := readSecretLine(strings.NewReader("")); err == nil {
		t.Fatal("empty stdin accepted")
	}
}

// A provider saved with `providers add` (or the admin API) under a name the
// config file declares was accepted and then ignored by the gateway (the
// file's definition wins), while add reported "saved" — an operator
// replacing a leaked key that way was told it worked. It is refused, and
// traffic keeps going where the file says.
func TestProviderShadowedByConfigIsRefused(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	defer up.Close()
	t.Setenv("SHADOW_TEST_KEY", "sk-config-file-credential")
	h := newHarness(t)
	h.useConfig(fmt.Sprintf("providers:\n  - {name: oa, type: openai, base_url: %s/v1, api_key_env: SHADOW_TEST_KEY}\n", up.URL))
	var root createdKey
	_ = json.Unmarshal([]byte(h.must("init", "--json")), &root)
	code, _ := h.run("sk-new-credential\n", "providers", "add", "--name", "oa", "--type", "openai", "--base-url", "http://127.0.0.1:1/v1", "--api-key-stdin")
	if code == 0 || !strings.Contains(h.logs.String(), "declared in the config file") {
		t.Fatalf("providers add of a config-file name: exit %d, stderr %s", code, h.logs.String())
	}
	h.serve()
	status, body := h.call("POST", "/api/admin/providers", root.Key, `{"name":"oa","type":"openai","base_url":"http://127.0.0.1:1/v1"}`)
	if status != http.StatusConflict || !strings.Contains(body, "provider_in_config") {
		t.Fatalf("admin API: %d %s, want 409 provider_in_config", status, body)
	}
	if status, body := h.call("POST", "/v1/chat/completions", root.Key, `{"model":"oa/m","messages":[{"role":"user","content":"hi"}]}`); status != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("the config file's provider: %d %s, %d upstream hits", status, body, hits.Load())
	}
}
