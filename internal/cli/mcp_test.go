package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

type bearerRT struct{ token string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func mcpConnect(t *testing.T, base, token string) (*sdk.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdk.NewClient(&sdk.Implementation{Name: "bulwark-cli-test", Version: "1"}, nil)
	tr := &sdk.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: &http.Client{Transport: bearerRT{token}}, MaxRetries: -1, DisableStandaloneSSE: true}
	cs, err := c.Connect(ctx, tr, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

// TestMCPThroughServe drives /mcp of a running `bulwark serve` with the
// official MCP Go SDK: tools listed per scope, a call that works, a call
// outside the key's scope refused, and an OAuth client-credentials token
// usable in place of the key.
func TestMCPThroughServe(t *testing.T) {
	h := newHarness(t)
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "default"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "default", "hello.txt"), []byte("hi from the workspace"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "tools:\n  workspace_root: " + ws + "\n  fs: {enabled: true}\n  time: {enabled: true}\n"
	h.useConfig(yaml)
	agent := h.createKey("--name", "agent", "--scopes", "tools:fs.read,tools:time")
	timeOnly := h.createKey("--name", "clock", "--scopes", "tools:time")
	h.serve()

	cs, err := mcpConnect(t, h.addr, agent.Key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "fs_read", Arguments: map[string]any{"path": "hello.txt"}})
	if err != nil || res.IsError {
		t.Fatalf("fs_read: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.Content)
	if !strings.Contains(string(b), "hi from the workspace") {
		t.Fatalf("fs_read content %s", b)
	}

	cs2, err := mcpConnect(t, h.addr, timeOnly.Key)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs2.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range list.Tools {
		if tool.Name != "time_now" {
			t.Errorf("key with tools:time sees %s", tool.Name)
		}
	}
	if res, err := cs2.CallTool(context.Background(), &sdk.CallToolParams{Name: "fs_read", Arguments: map[string]any{"path": "hello.txt"}}); err == nil && !res.IsError {
		t.Fatal("fs_read allowed without tools:fs.read")
	}

	// No credential: 401 with the RFC 9728 resource metadata pointer.
	resp, err := http.Post(h.addr+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("unauthenticated /mcp: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// Client credentials: the key as client secret buys a short-lived token.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {agent.ID}, "client_secret": {agent.Key}, "resource": {h.addr + "/mcp"}}
	resp, err = http.PostForm(h.addr+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(tok.AccessToken, "bwat_") {
		t.Fatalf("token endpoint: %d %q", resp.StatusCode, tok.AccessToken)
	}
	cs3, err := mcpConnect(t, h.addr, tok.AccessToken)
	if err != nil {
		t.Fatalf("connect with access token: %v", err)
	}
	if _, err := cs3.CallTool(context.Background(), &sdk.CallToolParams{Name: "time_now", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	// Every call is audited by key id.
	if out := h.must("audit", "export", "--json"); !strings.Contains(out, `"action":"tool.call"`) || strings.Contains(out, agent.Key) {
		t.Fatalf("tool calls not audited (or secret in audit)")
	}
}
