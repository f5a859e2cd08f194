package mcp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/internal/tools/fetch"
)

func newBuiltins(t *testing.T, cfg BuiltinConfig) *Builtins {
	t.Helper()
	b, err := NewBuiltins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func structured(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) (string, bool, any) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), res.IsError, res.StructuredContent
}

func TestBuiltinFileToolsAreConfinedPerTenant(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	canary := filepath.Join(outside, "canary.txt")
	if err := os.WriteFile(canary, []byte("CANARY-OUTSIDE"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBuiltins(t, BuiltinConfig{WorkspaceRoot: root, FSRead: true, FSWrite: true})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	acme := fx.mustConnect(secretAll, Version20251125)   // tenant acme
	beta := fx.mustConnect(secretOther, Version20260728) // tenant beta

	if text, isErr, _ := structured(t, acme, "fs_write", map[string]any{"path": "notes/a.txt", "content": "hello acme\n"}); isErr {
		t.Fatalf("fs_write: %s", text)
	}
	if text, _, _ := structured(t, acme, "fs_read", map[string]any{"path": "notes/a.txt"}); text != "hello acme\n" {
		t.Fatalf("fs_read = %q", text)
	}
	if text, _, _ := structured(t, acme, "fs_list", map[string]any{"path": "notes"}); !strings.Contains(text, "a.txt") {
		t.Fatalf("fs_list = %q", text)
	}
	if text, _, _ := structured(t, acme, "fs_search", map[string]any{"query": "hello"}); !strings.Contains(text, "notes/a.txt:1: hello acme") {
		t.Fatalf("fs_search = %q", text)
	}
	// Plant a symlink to the canary and a FIFO in acme's workspace.
	if err := os.Symlink(canary, filepath.Join(root, "acme", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../"+filepath.Base(outside)+"/canary.txt", filepath.Join(root, "acme", "rel-link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "acme", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		cs   *sdk.ClientSession
		tool string
		args map[string]any
	}{
		{"other tenant's file by its own path", beta, "fs_read", map[string]any{"path": "notes/a.txt"}},
		{"other tenant's file by traversal", beta, "fs_read", map[string]any{"path": "../acme/notes/a.txt"}},
		{"absolute path", acme, "fs_read", map[string]any{"path": canary}},
		{"escaping dotdot", acme, "fs_read", map[string]any{"path": "notes/../../../" + filepath.Base(outside) + "/canary.txt"}},
		{"absolute symlink", acme, "fs_read", map[string]any{"path": "link"}},
		{"relative symlink", acme, "fs_read", map[string]any{"path": "rel-link"}},
		{"fifo", acme, "fs_read", map[string]any{"path": "fifo"}},
		{"NUL byte", acme, "fs_read", map[string]any{"path": "notes/a.txt\x00.png"}},
		{"write through symlink", acme, "fs_write", map[string]any{"path": "link", "content": "overwritten"}},
		{"write into .git", acme, "fs_write", map[string]any{"path": ".git/config", "content": "[core]\n\tfsmonitor = evil"}},
		{"write to other tenant", beta, "fs_write", map[string]any{"path": "../acme/notes/a.txt", "content": "pwned"}},
		{"tenant smuggled in arguments", beta, "fs_read", map[string]any{"path": "notes/a.txt", "tenant": "acme"}},
		{"search other tenant", beta, "fs_search", map[string]any{"query": "hello", "path": "../acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var text string
			var isErr bool
			go func() {
				defer close(done)
				text, isErr, _ = structured(t, tt.cs, tt.tool, tt.args)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("tool call hung")
			}
			if !isErr {
				t.Fatalf("%s succeeded: %q", tt.tool, text)
			}
			if strings.Contains(text, "CANARY") || strings.Contains(text, "hello acme") || strings.Contains(text, root) || strings.Contains(text, outside) {
				t.Fatalf("error leaks content or a host path: %q", text)
			}
		})
	}
	if data, _ := os.ReadFile(canary); string(data) != "CANARY-OUTSIDE" {
		t.Fatal("canary outside the workspace was modified")
	}
	if data, _ := os.ReadFile(filepath.Join(root, "acme", "notes", "a.txt")); string(data) != "hello acme\n" {
		t.Fatalf("acme's file was modified: %q", data)
	}
	if _, err := os.Stat(filepath.Join(root, "acme", ".git", "config")); err == nil {
		t.Fatal(".git was written")
	}
}

func TestBuiltinWriteIsOffUnlessEnabled(t *testing.T) {
	b := newBuiltins(t, BuiltinConfig{WorkspaceRoot: t.TempDir(), FSRead: true})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	cs := fx.mustConnect(secretAll, Version20251125)
	if names := toolNames(t, cs); !slices.Equal(names, []string{"fs_list", "fs_read", "fs_search"}) {
		t.Fatalf("tools = %v", names)
	}
	if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "fs_write", Arguments: map[string]any{"path": "x", "content": "y"}}); err == nil {
		t.Fatal("fs_write callable while disabled")
	}
}

// countingServer is an HTTP server on 127.0.0.1 that counts the connections
// it accepts: a refused fetch must not open one.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("internal secret page"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestBuiltinFetchRefusesInternalAddresses(t *testing.T) {
	internal, conns := countingServer(t)
	port := internal.Listener.Addr().(*net.TCPAddr).Port
	// The redirector listens on 127.0.0.2, which the operator allowlists;
	// the 127.0.0.1 it redirects to is not, and must be refused at dial time.
	redirect := httptest.NewUnstartedServer(http.RedirectHandler(internal.URL, http.StatusFound))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	redirect.Listener = ln
	redirect.Start()
	t.Cleanup(redirect.Close)
	b := newBuiltins(t, BuiltinConfig{Fetch: &fetch.Config{Timeout: 3 * time.Second, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	cs := fx.mustConnect(secretAll, Version20251125)
	p := func(f string) string { return strings.ReplaceAll(f, "PORT", itoa(port)) }
	tests := []struct{ name, url string }{
		{"loopback", internal.URL},
		{"localhost name", p("http://localhost:PORT/")},
		{"IPv4-mapped IPv6", p("http://[::ffff:127.0.0.1]:PORT/")},
		{"decimal IP", p("http://2130706433:PORT/")},
		{"octal IP", p("http://0177.0.0.1:PORT/")},
		{"hex IP", p("http://0x7f000001:PORT/")},
		{"userinfo", p("http://user:pw@127.0.0.1:PORT/")},
		{"file scheme", "file:///etc/passwd"},
		{"metadata", "http://169.254.169.254/latest/meta-data/"},
		{"NAT64", "http://[64:ff9b::a00:1]/"},
		{"redirect to loopback", redirect.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr, _ := structured(t, cs, "http_fetch", map[string]any{"url": tt.url})
			if !isErr || strings.Contains(text, "internal secret page") || !strings.Contains(text, "URL") {
				t.Fatalf("fetch of %s: %q", tt.url, text)
			}
		})
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the internal listener saw %d connections", n)
	}
}

func TestBuiltinFetchReachesAllowlistedHost(t *testing.T) {
	internal, conns := countingServer(t)
	b := newBuiltins(t, BuiltinConfig{Fetch: &fetch.Config{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	cs := fx.mustConnect(secretAll, Version20260728)
	text, isErr, data := structured(t, cs, "http_fetch", map[string]any{"url": internal.URL + "/page"})
	if isErr || text != "internal secret page" || conns.Load() != 1 {
		t.Fatalf("allowlisted fetch: %q %v (conns %d)", text, isErr, conns.Load())
	}
	if m, ok := data.(map[string]any); !ok || m["status"] != float64(200) {
		t.Fatalf("structured content %v", data)
	}
	// The audit entry names the URL, with no secret in it.
	structured(t, cs, "http_fetch", map[string]any{"url": internal.URL + "/?access_token=abcd1234efgh5678ijkl9012"})
	for _, e := range fx.audit.all() {
		if strings.Contains(e.Details["args"], "abcd1234efgh5678ijkl9012") {
			t.Fatalf("audit leaks a query token: %s", e.Details["args"])
		}
	}
}
