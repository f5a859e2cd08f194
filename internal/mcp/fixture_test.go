package mcp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
)

// keyring is an in-memory key store standing in for the lead's.
type keyring struct {
	mu      sync.Mutex
	keys    map[string]*identity.Identity
	revoked map[string]bool
}

func (k *keyring) Authenticate(_ context.Context, secret string) (*identity.Identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for s, id := range k.keys {
		if subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 && !k.revoked[id.KeyID] {
			return id, nil
		}
	}
	return nil, errors.New("unknown key")
}

func (k *keyring) Active(_ context.Context, keyID string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.revoked[keyID], nil
}

func (k *keyring) revoke(keyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.revoked[keyID] = true
}

// memAudit is an in-memory audit.Appender that can be made to fail.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
	fail   bool
}

func (m *memAudit) Append(_ context.Context, e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk full")
	}
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}

// Secrets of the test keys. All start with the configured key prefix.
const (
	secretAll     = "sk-bw-all-5f0c1d9e8b7a6f5e4d3c2b1a0f9e8d7c"
	secretReader  = "sk-bw-reader-1a2b3c4d5e6f7a8b9c0d1e2f3a4b"
	secretNoTools = "sk-bw-llm-only-9f8e7d6c5b4a3f2e1d0c9b8a7f6e"
	secretOther   = "sk-bw-tenant-b-0a1b2c3d4e5f6a7b8c9d0e1f2a3b"
	secretNarrow  = "sk-bw-narrow-77aa88bb99cc00dd11ee22ff33aa"
)

type fixture struct {
	t        testing.TB
	base     string
	handler  *Handler
	keys     *keyring
	audit    *memAudit
	signer   *oauth.Signer
	canary   string // written only by the test fs_write tool
	asHits   func() int
	writeRun func() int
}

type fixtureOpts struct {
	noTestTools bool
	limiter     Limiter
	perTool     map[string]Limiter
	origins     []string
	tools       []Tool
	refusals    audit.Appender
}

// newFixture starts a real HTTP server on 127.0.0.1 with the MCP handler,
// the protected-resource metadata, Bulwark's token endpoint and a fake
// RFC 7662 introspection server.
func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	kr := &keyring{revoked: map[string]bool{}, keys: map[string]*identity.Identity{
		secretAll:     {KeyID: "key_all", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:*"}},
		secretReader:  {KeyID: "key_reader", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:echo", "tools:time"}},
		secretNoTools: {KeyID: "key_llm", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}},
		secretOther:   {KeyID: "key_b", Tenant: "beta", Kind: identity.KindVirtualKey, Scopes: []string{"tools:*"}},
		secretNarrow:  {KeyID: "key_narrow", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:*"}, Tools: []string{"echo"}},
	}}
	au := &memAudit{}
	signer, err := oauth.NewSigner(oauth.SignerConfig{Key: []byte("0123456789abcdef0123456789abcdef"), Resource: base + "/mcp", Status: kr})
	if err != nil {
		t.Fatal(err)
	}
	as, err := oauth.NewAuthServer(oauth.AuthServerConfig{Issuer: base, Signer: signer, Keys: kr, Audit: au})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, base: base, keys: kr, audit: au, signer: signer, canary: filepath.Join(t.TempDir(), "canary")}
	intro, hits := startIntrospection(t, base+"/mcp")
	fx.asHits = hits
	var writes sync.Map
	tools := o.tools
	if !o.noTestTools {
		tools = append(testTools(fx.canary, &writes), o.tools...)
	}
	fx.writeRun = func() int { n := 0; writes.Range(func(any, any) bool { n++; return true }); return n }
	h, err := NewHandler(Config{BaseURL: base, AllowedOrigins: append([]string{"https://app.example.com"}, o.origins...), KeyPrefix: "sk-bw-"},
		Deps{Keys: kr, Tokens: signer, Introspector: intro, Audit: au, Refusals: o.refusals, Limiter: o.limiter, ToolLimiters: o.perTool, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	fx.handler = h
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	for _, p := range h.MetadataPaths() {
		mux.Handle("GET "+p, h.ProtectedResourceMetadata())
	}
	mux.Handle("GET /.well-known/oauth-authorization-server", as.MetadataHandler())
	mux.Handle("POST /oauth/token", as.TokenHandler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return fx
}

// testTools are small real tools: echo returns its argument; now reports
// the time; fs_write writes the canary file (it must never run for a caller
// without tools:fs.write, whatever the arguments of another tool say).
func testTools(canary string, writes *sync.Map) []Tool {
	obj := json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)
	return []Tool{
		{Name: "echo", Scope: "tools:echo", Description: "echo text", InputSchema: obj, ReadOnly: true,
			Handler: func(_ context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
				var in struct {
					Text string `json:"text"`
				}
				if err := DecodeArgs(args, &in); err != nil {
					return Result{}, err
				}
				return Result{Text: in.Text, Data: map[string]string{"tenant": id.Tenant}}, nil
			}},
		{Name: "time_now", Scope: "tools:time", Description: "current time", InputSchema: json.RawMessage(`{"type":"object"}`), ReadOnly: true,
			Handler: func(context.Context, *identity.Identity, json.RawMessage) (Result, error) {
				return Result{Text: time.Now().UTC().Format(time.RFC3339)}, nil
			}},
		{Name: "fs_write", Scope: "tools:fs.write", Description: "write the canary", InputSchema: obj,
			Handler: func(_ context.Context, id *identity.Identity, _ json.RawMessage) (Result, error) {
				writes.Store(time.Now().UnixNano(), id.KeyID)
				return Result{Text: "written"}, os.WriteFile(canary, []byte(id.KeyID), 0o600)
			}},
		{Name: "leaky", Scope: "tools:echo", Description: "fails with an internal error", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, *identity.Identity, json.RawMessage) (Result, error) {
				return Result{}, fmt.Errorf("open /var/lib/bulwark/workspaces/acme/x: permission denied")
			}},
	}
}

// startIntrospection runs a fake RFC 7662 endpoint knowing one external token.
func startIntrospection(t testing.TB, resource string) (*oauth.Introspector, func() int) {
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		_ = r.ParseForm()
		ans := map[string]any{"active": false}
		switch r.PostForm.Get("token") {
		case "ext-good":
			ans = map[string]any{"active": true, "sub": "svc-ci", "scope": "tools:echo", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}
		case "ext-wrong-aud":
			ans = map[string]any{"active": true, "sub": "svc-ci", "scope": "tools:echo", "aud": "https://elsewhere.example/mcp", "exp": time.Now().Add(time.Hour).Unix()}
		case "ext-unmapped":
			ans = map[string]any{"active": true, "sub": "svc-unknown", "scope": "tools:echo", "aud": resource, "exp": time.Now().Add(time.Hour).Unix()}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	in := &oauth.Introspector{Endpoint: srv.URL, ClientID: "bulwark", ClientSecret: "as-secret", Resource: resource,
		TenantMap: map[string]string{"svc-ci": "acme"}, MaxCacheTTL: time.Minute}
	if err := in.Init(); err != nil {
		t.Fatal(err)
	}
	return in, func() int { mu.Lock(); defer mu.Unlock(); return hits }
}

// bearer is an http.RoundTripper that adds an Authorization header.
type bearer struct {
	token  string
	origin string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	if b.origin != "" {
		r.Header.Set("Origin", b.origin)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP session with the official SDK client.
func (fx *fixture) connect(token, version string) (*sdk.ClientSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdk.NewClient(&sdk.Implementation{Name: "bulwark-test", Version: "1"}, nil)
	tr := &sdk.StreamableClientTransport{Endpoint: fx.base + "/mcp", HTTPClient: &http.Client{Transport: bearer{token: token}}, MaxRetries: -1, DisableStandaloneSSE: true}
	cs, err := c.Connect(ctx, tr, &sdk.ClientSessionOptions{ProtocolVersion: version})
	if err == nil {
		fx.t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

func (fx *fixture) mustConnect(token, version string) *sdk.ClientSession {
	fx.t.Helper()
	cs, err := fx.connect(token, version)
	if err != nil {
		fx.t.Fatalf("connect: %v", err)
	}
	return cs
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func callText(t *testing.T, cs *sdk.ClientSession, name string, args any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "protocol error: " + err.Error(), true
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// rawPost sends one JSON-RPC message to /mcp without the SDK.
func (fx *fixture) rawPost(token, origin, body string, hdr map[string]string) *http.Response {
	fx.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fx.base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: bearer{token: token, origin: origin}}).Do(req)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.t.Cleanup(func() { resp.Body.Close() })
	return resp
}
