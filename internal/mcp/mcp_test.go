package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestProtocolVersions(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	tests := []struct {
		name      string
		requested string
		want      string
	}{
		{"2025-06-18", Version20250618, Version20250618},
		{"2025-11-25", Version20251125, Version20251125},
		{"2026-07-28 sessionless", Version20260728, Version20260728},
		{"older version negotiated up", "2025-03-26", Version20251125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fx.mustConnect(secretAll, tt.requested)
			if got := cs.InitializeResult().ProtocolVersion; got != tt.want {
				t.Fatalf("negotiated %s, want %s", got, tt.want)
			}
			if names := toolNames(t, cs); !slices.Contains(names, "echo") {
				t.Fatalf("tools/list = %v", names)
			}
			if text, isErr := callText(t, cs, "echo", map[string]any{"text": "hi " + tt.name}); isErr || text != "hi "+tt.name {
				t.Fatalf("echo = %q (error %v)", text, isErr)
			}
		})
	}
}

func TestToolsListShowsOnlyCallableTools(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	readerTimeToken := fx.token(t, url.Values{"client_secret": {secretReader}, "scope": {"tools:time"}})
	tests := []struct {
		name  string
		token string
		want  []string
	}{
		{"wildcard scope", secretAll, []string{"echo", "fs_write", "leaky", "time_now"}},
		{"two scopes", secretReader, []string{"echo", "leaky", "time_now"}},
		{"per-key tool allowlist", secretNarrow, []string{"echo"}},
		{"narrowed access token", readerTimeToken, []string{"time_now"}},
		{"introspected token", "ext-good", []string{"echo", "leaky"}},
	}
	for _, tt := range tests {
		for _, v := range []string{Version20250618, Version20260728} {
			t.Run(tt.name+"/"+v, func(t *testing.T) {
				cs := fx.mustConnect(tt.token, v)
				if got := toolNames(t, cs); !slices.Equal(got, tt.want) {
					t.Fatalf("tools/list = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestUnauthenticatedGets401WithResourceMetadata(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	tests := []struct {
		name      string
		token     string
		wantError string
	}{
		{"no token", "", ""},
		{"unknown key", "sk-bw-not-a-key-000000000000000000000000", "invalid_token"},
		{"garbage", "%%%", "invalid_token"},
		{"forged access token", oauth.TokenPrefix + "e30.AAAA", "invalid_token"},
		{"inactive external token", "ext-revoked", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.rawPost(tt.token, "", initBody, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			c, err := oauth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			if err != nil || c.Scheme != "Bearer" {
				t.Fatalf("WWW-Authenticate %q: %v", resp.Header.Get("WWW-Authenticate"), err)
			}
			if c.Params["resource_metadata"] != fx.base+oauth.ProtectedResourceMetadataPath || c.Params["error"] != tt.wantError {
				t.Fatalf("challenge %v", c.Params)
			}
			if _, err := fx.connect(tt.token, Version20251125); err == nil {
				t.Fatal("SDK client connected without valid credentials")
			}
		})
	}
	for _, path := range []string{oauth.ProtectedResourceMetadataPath, oauth.ProtectedResourceMetadataPath + "/mcp"} {
		checkResourceMetadata(t, fx, path)
	}
}

func checkResourceMetadata(t *testing.T, fx *fixture, path string) {
	t.Helper()
	resp, err := http.Get(fx.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m oauth.ResourceMetadata
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.Resource != fx.base+"/mcp" || !slices.Equal(m.AuthorizationServers, []string{fx.base}) ||
		!slices.Contains(m.ScopesSupported, "tools:fs.write") || !slices.Equal(m.BearerMethodsSupported, []string{"header"}) {
		t.Fatalf("resource metadata %+v", m)
	}
}

func TestInsufficientScopeNamesTheScope(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	callWrite := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fs_write","arguments":{"text":"x"}}}`
	batch := `[{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}},` + callWrite[:len(callWrite)-1] + `}]`
	tests := []struct {
		name      string
		token     string
		body      string
		wantScope string
	}{
		{"tools/call without the tool's scope", secretReader, callWrite, "tools:fs.write"},
		{"hidden in a batch", secretReader, batch, "tools:fs.write"},
		{"key without any tool scope", secretNoTools, initBody, "tools:echo tools:fs.write tools:time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.rawPost(tt.token, "", tt.body, nil)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			c, err := oauth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			if err != nil || c.Params["error"] != "insufficient_scope" || c.Params["scope"] != tt.wantScope ||
				c.Params["resource_metadata"] != fx.base+oauth.ProtectedResourceMetadataPath {
				t.Fatalf("challenge %q (%v)", resp.Header.Get("WWW-Authenticate"), err)
			}
		})
	}
	if _, err := os.Stat(fx.canary); !errors.Is(err, os.ErrNotExist) || fx.writeRun() != 0 {
		t.Fatal("fs_write ran for a caller without tools:fs.write")
	}
	denied := 0
	for _, e := range fx.audit.all() {
		if e.Outcome == audit.OutcomeDenied && e.Details["required_scope"] == "tools:fs.write" && e.Target == "fs_write" && e.Actor == "key_reader" {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("audited %d scope refusals of fs_write, want 2", denied)
	}
}

// On a server with no tools, a key without a tool scope is told so: no
// scope would help, so the challenge names none.
func TestNoToolsRefusalSaysSo(t *testing.T) {
	fx := newFixture(t, fixtureOpts{noTestTools: true})
	resp := fx.rawPost(secretNoTools, "", initBody, nil)
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, body %v (%v)", resp.StatusCode, body, err)
	}
	c, err := oauth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil || c.Params["error"] != "insufficient_scope" {
		t.Fatalf("challenge %q (%v)", resp.Header.Get("WWW-Authenticate"), err)
	}
	if _, named := c.Params["scope"]; named || body["error_description"] != "this server offers no tools" {
		t.Fatalf("challenge %q, description %q", resp.Header.Get("WWW-Authenticate"), body["error_description"])
	}
}

func TestSmuggledToolOrScopeInArgumentsIsRefused(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	tests := []struct {
		name  string
		token string
		tool  string
		args  map[string]any
	}{
		{"tool and scope fields in arguments", secretReader, "echo", map[string]any{"text": "x", "tool": "fs_write", "scope": "tools:*"}},
		{"name field in arguments", secretReader, "time_now", map[string]any{"name": "fs_write"}},
		{"nested params", secretReader, "echo", map[string]any{"text": "x", "params": map[string]any{"name": "fs_write", "arguments": map[string]any{}}}},
		{"tool outside the key's allowlist", secretNarrow, "time_now", nil},
		{"allowlisted key asks for fs_write", secretNarrow, "fs_write", map[string]any{"text": "x"}},
		{"case variant of a tool name", secretReader, "FS_WRITE", nil},
		{"padded tool name", secretReader, "fs_write ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fx.mustConnect(tt.token, Version20251125)
			text, isErr := callText(t, cs, tt.tool, tt.args)
			if tt.name == "name field in arguments" {
				// time_now takes no arguments it cares about: it runs, as
				// time_now, under tools:time, and nothing else runs.
				if isErr {
					t.Fatalf("time_now refused: %s", text)
				}
			} else if !isErr {
				t.Fatalf("call succeeded: %q", text)
			}
			if _, err := os.Stat(fx.canary); !errors.Is(err, os.ErrNotExist) || fx.writeRun() != 0 {
				t.Fatal("a smuggled name reached fs_write")
			}
		})
	}
	for _, e := range fx.audit.all() {
		if e.Target == "fs_write" && e.Outcome == audit.OutcomeSuccess {
			t.Fatalf("audit shows a successful fs_write: %+v", e)
		}
	}
}

func TestExecuteRechecksAuthorityFromRegistry(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	write, _ := fx.handler.reg.lookup("fs_write")
	reader, _ := fx.keys.Authenticate(context.Background(), secretReader)
	narrow, _ := fx.keys.Authenticate(context.Background(), secretNarrow)
	tests := []struct {
		name string
		id   *identity.Identity
	}{
		{"scope missing", reader},
		{"tool not allowlisted", narrow},
		{"no identity", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, outcome, public := fx.handler.execute(context.Background(), write, tt.id, json.RawMessage(`{"scope":"tools:*"}`))
			if outcome != audit.OutcomeDenied || public == "" {
				t.Fatalf("outcome %s %q", outcome, public)
			}
		})
	}
	if fx.writeRun() != 0 {
		t.Fatal("fs_write ran")
	}
}

func TestTokenEndpointFlow(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	good := fx.token(t, url.Values{"client_secret": {secretOther}})
	kr := fx.keys
	expiredSigner, _ := oauth.NewSigner(oauth.SignerConfig{Key: []byte("0123456789abcdef0123456789abcdef"), Resource: fx.base + "/mcp", Status: kr,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	otherAud, _ := oauth.NewSigner(oauth.SignerConfig{Key: []byte("0123456789abcdef0123456789abcdef"), Resource: "https://elsewhere.example.com/mcp", Status: kr})
	id, _ := kr.Authenticate(context.Background(), secretAll)
	expired, _, _ := expiredSigner.Issue(id, id.Scopes)
	wrongAud, _, _ := otherAud.Issue(id, id.Scopes)

	cs := fx.mustConnect(good, Version20260728)
	if text, isErr := callText(t, cs, "echo", map[string]any{"text": "via token"}); isErr || text != "via token" {
		t.Fatalf("echo with token: %q %v", text, isErr)
	}
	tests := []struct {
		name, token, wantDesc string
	}{
		{"expired token", expired, oauth.ErrExpired.Error()},
		{"token for another resource", wrongAud, oauth.ErrAudience.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.rawPost(tt.token, "", initBody, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), tt.wantDesc) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("token of a revoked key", func(t *testing.T) {
		kr.revoke("key_b")
		if resp := fx.rawPost(good, "", initBody, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
		if text, isErr := callText(t, cs, "echo", map[string]any{"text": "x"}); !isErr {
			t.Fatalf("live session kept working after revocation: %q", text)
		}
	})
}

// token gets an access token from the fixture's token endpoint.
func (fx *fixture) token(t *testing.T, form url.Values) string {
	t.Helper()
	form.Set("grant_type", "client_credentials")
	form.Set("resource", fx.base+"/mcp")
	resp, err := http.PostForm(fx.base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func TestIntrospectedTokens(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	cs := fx.mustConnect("ext-good", Version20251125)
	for range 3 {
		if text, isErr := callText(t, cs, "echo", map[string]any{"text": "ext"}); isErr || text != "ext" {
			t.Fatalf("echo: %q %v", text, isErr)
		}
	}
	if n := fx.asHits(); n != 1 {
		t.Fatalf("introspection endpoint hit %d times within the cache TTL, want 1", n)
	}
	tests := []struct{ name, token string }{
		{"inactive", "ext-unknown"},
		{"wrong audience", "ext-wrong-aud"},
		{"subject bound to no tenant", "ext-unmapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp := fx.rawPost(tt.token, "", initBody, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	before := fx.asHits()
	fx.rawPost("sk-bw-wrong-key-00000000000000000000000000", "", initBody, nil)
	fx.rawPost(oauth.TokenPrefix+"forged.sig", "", initBody, nil)
	if fx.asHits() != before {
		t.Fatal("a Bulwark key or token was sent to the external introspection endpoint")
	}
}

func TestSessionIsBoundToIdentity(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	cs := fx.mustConnect(secretAll, Version20251125)
	sid := cs.ID()
	if sid == "" {
		t.Fatal("no session id")
	}
	list := `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}`
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": Version20251125}
	tests := []struct {
		name   string
		token  string
		wantOK bool
	}{
		{"same key", secretAll, true},
		{"another key of the same tenant", secretReader, false},
		{"a key of another tenant", secretOther, false},
		{"an external token", "ext-good", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.rawPost(tt.token, "", list, hdr)
			if ok := resp.StatusCode == http.StatusOK; ok != tt.wantOK {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s), want ok=%v", resp.StatusCode, body, tt.wantOK)
			}
		})
	}
}

func TestOriginIsValidated(t *testing.T) {
	fx := newFixture(t, fixtureOpts{origins: []string{"http://localhost:3000"}})
	tests := []struct {
		name    string
		origin  []string
		host    string
		allowed bool
	}{
		{"no origin (non-browser client)", nil, "", true},
		{"allowlisted", []string{"https://app.example.com"}, "", true},
		{"allowlisted, default port and case", []string{"HTTPS://App.Example.com:443"}, "", true},
		{"allowlisted localhost dev origin", []string{"http://localhost:3000"}, "", true},
		{"foreign site", []string{"https://evil.example.com"}, "", false},
		{"lookalike suffix", []string{"https://app.example.com.evil.net"}, "", false},
		{"other port", []string{"http://localhost:3001"}, "", false},
		{"scheme downgrade", []string{"http://app.example.com"}, "", false},
		{"null origin", []string{"null"}, "", false},
		{"two origins", []string{"https://app.example.com", "https://evil.example.com"}, "", false},
		{"rebinding host header", nil, "evil.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, fx.base+"/mcp", strings.NewReader(initBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+secretAll)
			for _, o := range tt.origin {
				req.Header.Add("Origin", o)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode != http.StatusForbidden; got != tt.allowed {
				t.Fatalf("status %d, allowed want %v", resp.StatusCode, tt.allowed)
			}
		})
	}
}

func TestAuditRecordsEveryCallWithoutSecrets(t *testing.T) {
	lenient := Tool{Name: "config_set", Scope: "tools:echo", Description: "accepts anything", InputSchema: json.RawMessage(`{"type":"object"}`),
		Handler: func(context.Context, *identity.Identity, json.RawMessage) (Result, error) {
			return Result{Text: "ok"}, nil
		}}
	fx := newFixture(t, fixtureOpts{tools: []Tool{lenient}})
	cs := fx.mustConnect(secretAll, Version20251125)
	args := map[string]any{
		"path": "notes/todo.md", "password": "hunter2", "api_key": "sk-live-abcdef1234567890abcdef",
		"headers": map[string]any{"Authorization": "Bearer abc.def.ghi", "X-Trace": "t1"},
		"url":     "https://user:pw@example.com/x?token=s3cr3tvalue&page=2",
		"note":    "call with " + secretReader + " please", "blob": "Zq8xV3nR7tKp2LmW9sYd4HfJ6cBg",
	}
	if _, isErr := callText(t, cs, "config_set", args); isErr {
		t.Fatal("config_set failed")
	}
	callText(t, cs, "leaky", nil)
	var got []audit.Event
	for _, e := range fx.audit.all() {
		if e.Action == "tool.call" {
			got = append(got, e)
		}
	}
	if len(got) != 2 {
		t.Fatalf("audited %d calls, want 2: %+v", len(got), got)
	}
	ok, fail := got[0], got[1]
	if ok.Actor != "key_all" || ok.Tenant != "acme" || ok.Target != "config_set" || ok.Outcome != audit.OutcomeSuccess ||
		ok.Details["bytes"] != "2" || ok.Details["duration_ms"] == "" || !strings.Contains(ok.Details["args"], "notes/todo.md") {
		t.Fatalf("success event %+v", ok)
	}
	if fail.Target != "leaky" || fail.Outcome != audit.OutcomeFailure || fail.Details["error"] != "leaky failed" {
		t.Fatalf("failure event %+v", fail)
	}
	dump := fmt.Sprint(fx.audit.all())
	for _, secret := range []string{"hunter2", "sk-live-abcdef", "abc.def.ghi", "s3cr3tvalue", ":pw@", secretReader, secretAll, "Zq8xV3nR7tKp2LmW9sYd4HfJ6cBg"} {
		if strings.Contains(dump, secret) {
			t.Errorf("audit log contains secret %q: %s", secret, ok.Details["args"])
		}
	}
}

func TestAuditFailureWithholdsResult(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	cs := fx.mustConnect(secretAll, Version20251125)
	fx.audit.mu.Lock()
	fx.audit.fail = true
	fx.audit.mu.Unlock()
	text, isErr := callText(t, cs, "echo", map[string]any{"text": "must not be delivered"})
	if !isErr || strings.Contains(text, "must not be delivered") {
		t.Fatalf("result delivered without an audit entry: %q", text)
	}
}

func TestToolErrorsHideInternals(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	cs := fx.mustConnect(secretAll, Version20260728)
	text, isErr := callText(t, cs, "leaky", nil)
	if !isErr || strings.Contains(text, "/var/lib") || text != "leaky failed" {
		t.Fatalf("error shown to client: %q", text)
	}
	text, isErr = callText(t, cs, "echo", map[string]any{"text": 5})
	if !isErr || !strings.Contains(text, `field "text" has the wrong type`) {
		t.Fatalf("bad arguments error: %q", text)
	}
}

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 0, errors.New("redis down")
}

func TestRateLimitPerToolAndKey(t *testing.T) {
	lim, _ := NewMemoryLimiter(2, time.Minute)
	fx := newFixture(t, fixtureOpts{limiter: lim})
	cs := fx.mustConnect(secretAll, Version20251125)
	for i := range 2 {
		if _, isErr := callText(t, cs, "echo", map[string]any{"text": "x"}); isErr {
			t.Fatalf("call %d refused", i)
		}
	}
	if text, isErr := callText(t, cs, "echo", map[string]any{"text": "x"}); !isErr || !strings.Contains(text, "rate limit") {
		t.Fatalf("third call: %q", text)
	}
	if _, isErr := callText(t, cs, "time_now", nil); isErr {
		t.Fatal("limit of echo applied to time_now")
	}
	other := fx.mustConnect(secretReader, Version20251125)
	if _, isErr := callText(t, other, "echo", map[string]any{"text": "x"}); isErr {
		t.Fatal("limit of one key applied to another")
	}

	fx2 := newFixture(t, fixtureOpts{limiter: failingLimiter{}})
	cs2 := fx2.mustConnect(secretAll, Version20251125)
	if text, isErr := callText(t, cs2, "echo", map[string]any{"text": "x"}); !isErr || !strings.Contains(text, "unavailable") {
		t.Fatalf("limiter error did not fail closed: %q", text)
	}
}
