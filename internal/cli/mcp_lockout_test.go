package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// proxyTransport reaches the server from 127.0.0.2, the configured trusted
// proxy, and names the client it forwards for in X-Forwarded-For.
type proxyTransport struct {
	base  *http.Transport
	forIP string
	token string
}

func newProxyTransport(forIP, token string) *proxyTransport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	return &proxyTransport{base: &http.Transport{DialContext: d.DialContext}, forIP: forIP, token: token}
}

func (p *proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", p.forIP)
	if p.token != "" {
		r.Header.Set("Authorization", "Bearer "+p.token)
	}
	return p.base.RoundTrip(r)
}

// mcpPost sends one initialize request to /mcp with bearer (and a spoofed
// X-Forwarded-For, which must not matter: 127.0.0.1 is not a trusted proxy).
func mcpPost(t *testing.T, c *http.Client, base, bearer, spoof string) *http.Response {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+bearer)
	if spoof != "" {
		req.Header.Set("X-Forwarded-For", spoof)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// TestMCPLockoutThroughServe drives `bulwark serve` with
// auth.failures_per_minute: 3 and an RFC 7662 introspection server that
// counts its requests: bad bearers on /mcp lock the client out (429 +
// Retry-After + the RFC 9728 challenge) however it spoofs X-Forwarded-For,
// the introspection endpoint sees at most 4 guesses, the lockout is the
// API's, a valid key still works from the locked client (as on the API),
// another client is unaffected, and the audit log holds the lockout, not
// the flood.
func TestMCPLockoutThroughServe(t *testing.T) {
	var introspected atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		introspected.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":false}`))
	}))
	t.Cleanup(idp.Close)
	t.Setenv("MCP_LOCKOUT_TEST_IDP_SECRET", "idp-client-secret")

	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	yaml := fmt.Sprintf(`auth: {failures_per_minute: 3}
trusted_proxies: ["127.0.0.2/32"]
tools:
  time: {enabled: true}
  oauth:
    introspection:
      endpoint: %s/introspect
      client_id: bulwark
      client_secret_env: MCP_LOCKOUT_TEST_IDP_SECRET
      tenants: {svc: default}
`, idp.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = cfg
	agent := h.createKey("--name", "agent", "--scopes", "tools:time,llm")
	gone := h.createKey("--name", "gone", "--scopes", "tools:time")
	h.must("keys", "revoke", gone.ID)
	h.serve()
	direct := &http.Client{Timeout: 10 * time.Second}

	// 1. Guesses: the allowance (3) is answered 401, the 4th locks out.
	for i := range 4 {
		resp := mcpPost(t, direct, h.addr, fmt.Sprintf("opaque-guess-%d", i), fmt.Sprintf("192.0.2.%d", i))
		want := http.StatusUnauthorized
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("guess %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	// 2. Locked out: more guesses never reach the introspection endpoint.
	for i := 4; i < 14; i++ {
		resp := mcpPost(t, direct, h.addr, fmt.Sprintf("opaque-guess-%d", i), fmt.Sprintf("198.18.0.%d", i))
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("guess %d while locked out: status %d", i, resp.StatusCode)
		}
		checkLockedOut(t, resp)
	}
	if n := introspected.Load(); n != 4 {
		t.Fatalf("14 guesses reached the introspection endpoint %d times, want 4 (allowance + the one that locked out)", n)
	}
	// 3. A revoked (well-formed) key is still checked, and refused: 429.
	if resp := mcpPost(t, direct, h.addr, gone.Key, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("revoked key while locked out: status %d", resp.StatusCode)
	}
	// 4. The lockout is the API's: the same client is locked out there.
	if code := apiStatus(t, direct, h.addr, "sk-bw-not-a-key"); code != http.StatusTooManyRequests {
		t.Fatalf("API from the locked-out client: status %d", code)
	}
	// 5. A valid key from the locked-out client works, on the API and on /mcp.
	if code := apiStatus(t, direct, h.addr, agent.Key); code != http.StatusOK {
		t.Fatalf("valid key on the API from the locked-out client: %d", code)
	}
	cs, err := mcpConnect(t, h.addr, agent.Key)
	if err != nil {
		t.Fatalf("valid key on /mcp from the locked-out client: %v", err)
	}
	if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "time_now", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	// 6. Another client (through the trusted proxy) is not locked out.
	other := &http.Client{Transport: newProxyTransport("198.51.100.9", agent.Key), Timeout: 10 * time.Second}
	c := sdk.NewClient(&sdk.Implementation{Name: "other", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs2, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: h.addr + "/mcp", HTTPClient: other, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("valid key from another client: %v", err)
	}
	_ = cs2.Close()
	bad := &http.Client{Transport: newProxyTransport("198.51.100.9", ""), Timeout: 10 * time.Second}
	if resp := mcpPost(t, bad, h.addr, "opaque-other", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token from another client: status %d, want 401", resp.StatusCode)
	}
	// 7. A valid access token from the locked-out client is shed like the
	// API sheds every non-key credential while locked out.
	tok := accessToken(t, other, h.addr, agent)
	if resp := mcpPost(t, direct, h.addr, tok, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("access token from the locked-out client: status %d", resp.StatusCode)
	}
	checkLockoutAudit(t, h, agent.Key)
}

func checkLockedOut(t *testing.T, resp *http.Response) {
	t.Helper()
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, "resource_metadata=") {
		t.Fatalf("429 without the RFC 9728 challenge: %q", ch)
	}
}

func apiStatus(t *testing.T, c *http.Client, base, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func accessToken(t *testing.T, c *http.Client, base string, k createdKey) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.ID}, "client_secret": {k.Key}, "resource": {base + "/mcp"}}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Del("Authorization")
	tr := *c.Transport.(*proxyTransport)
	tr.token = "" // client_secret_post: no Authorization header
	resp, err := (&http.Client{Transport: &tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// checkLockoutAudit: the locked-out client's 16 failures left three
// auth.failure entries on /mcp (first failure, lockout start, the revoked
// key after the count restarted), none carrying a credential.
func checkLockoutAudit(t *testing.T, h *harness, secret string) {
	t.Helper()
	export := h.must("audit", "export", "--json")
	if strings.Contains(export, "opaque-guess") || strings.Contains(export, secret) {
		t.Fatal("a credential reached the audit log")
	}
	var locked, entries int
	sc := bufio.NewScanner(strings.NewReader(export))
	for sc.Scan() {
		var e struct {
			Action, Actor, Target string
			Details               map[string]string
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action != "auth.failure" || e.Actor != "client:127.0.0.1" || e.Target != "/mcp" {
			continue
		}
		entries++
		if e.Details["locked"] == "true" {
			locked++
		}
	}
	if entries != 3 || locked != 2 {
		t.Fatalf("audit: %d auth.failure entries on /mcp (%d locked), want 3 (2 locked):\n%s", entries, locked, export)
	}
}
