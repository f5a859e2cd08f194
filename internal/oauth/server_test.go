package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

const aliceSecret = "sk-bw-alice-0123456789abcdef0123456789abcdef"

type authFixture struct {
	srv    *httptest.Server
	signer *Signer
	keys   *keyring
	audit  *memAudit
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	kr := newKeyring()
	kr.add(aliceSecret, &identity.Identity{KeyID: "key_alice", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:fs.read", "tools:time", "llm"}})
	signer, err := NewSigner(SignerConfig{Key: testSignKey, Resource: testResource, Status: kr})
	if err != nil {
		t.Fatal(err)
	}
	au := &memAudit{}
	as, err := NewAuthServer(AuthServerConfig{Issuer: "https://gw.example.com", Signer: signer, Keys: kr, Audit: au})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-authorization-server", as.MetadataHandler())
	mux.Handle("/oauth/token", as.TokenHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &authFixture{srv: srv, signer: signer, keys: kr, audit: au}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func TestTokenEndpoint(t *testing.T) {
	fx := newAuthFixture(t)
	tests := []struct {
		name       string
		method     string
		authz      string
		form       url.Values
		wantStatus int
		wantErr    string
		wantScopes string
	}{
		{"basic auth", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}, 200, "", "tools:fs.read tools:time llm"},
		{"basic auth without client id", "POST", basic("", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}, 200, "", "tools:fs.read tools:time llm"},
		{"post auth", "POST", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"key_alice"}, "client_secret": {aliceSecret}, "resource": {testResource}}, 200, "", "tools:fs.read tools:time llm"},
		{"scope narrows", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "scope": {"tools:time"}}, 200, "", "tools:time"},
		{"scope cannot widen", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "scope": {"tools:time tools:fs.write"}}, 400, "invalid_scope", ""},
		{"wildcard scope cannot widen", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "scope": {"tools:*"}}, 400, "invalid_scope", ""},
		{"wrong secret", "POST", basic("key_alice", aliceSecret+"x"), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}, 401, "invalid_client", ""},
		{"client id of another key", "POST", basic("key_bob", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}, 401, "invalid_client", ""},
		{"no credentials", "POST", "", url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}, 401, "invalid_client", ""},
		{"two auth methods", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "client_secret": {aliceSecret}, "resource": {testResource}}, 400, "invalid_request", ""},
		{"missing resource", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}}, 400, "invalid_target", ""},
		{"foreign resource", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {"https://evil.example.com/mcp"}}, 400, "invalid_target", ""},
		{"repeated resource", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {testResource, "https://evil.example.com/mcp"}}, 400, "invalid_request", ""},
		{"password grant", "POST", basic("key_alice", aliceSecret), url.Values{"grant_type": {"password"}, "resource": {testResource}}, 400, "unsupported_grant_type", ""},
		{"GET", "GET", basic("key_alice", aliceSecret), nil, 405, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, fx.srv.URL+"/oauth/token", strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantStatus || (tt.wantErr != "" && body["error"] != tt.wantErr) {
				t.Fatalf("status %d body %v, want %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantErr)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("token response cacheable: %q", resp.Header.Get("Cache-Control"))
			}
			if strings.Contains(fmt.Sprint(body), aliceSecret) {
				t.Fatal("response echoes the client secret")
			}
			if tt.wantStatus != 200 {
				return
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(900) || body["scope"] != tt.wantScopes {
				t.Fatalf("body %v", body)
			}
			id, err := fx.signer.Verify(context.Background(), body["access_token"].(string))
			if err != nil || id.KeyID != "key_alice" || strings.Join(id.Scopes, " ") != tt.wantScopes {
				t.Fatalf("issued token verifies to %+v, %v", id, err)
			}
		})
	}
	for _, e := range fx.audit.all() {
		if strings.Contains(fmt.Sprint(e), aliceSecret) || e.Action != "oauth.token" {
			t.Fatalf("audit event leaks or is mislabelled: %+v", e)
		}
	}
	if n := len(fx.audit.all()); n != len(tests) {
		t.Fatalf("audited %d token requests, want %d", n, len(tests))
	}
}

func TestTokenForRevokedKeyIsRefused(t *testing.T) {
	fx := newAuthFixture(t)
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "client_secret": {aliceSecret}}
	resp, err := http.PostForm(fx.srv.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	tok, _ := body["access_token"].(string)
	fx.keys.revoke("key_alice")
	if _, err := fx.signer.Verify(context.Background(), tok); err != ErrKeyInactive {
		t.Fatalf("token of a revoked key: err = %v", err)
	}
	resp, _ = http.PostForm(fx.srv.URL+"/oauth/token", form)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked key got a token: %d", resp.StatusCode)
	}
}

func TestAuthorizationServerMetadata(t *testing.T) {
	fx := newAuthFixture(t)
	resp, err := http.Get(fx.srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m Metadata
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Issuer != "https://gw.example.com" || m.TokenEndpoint != "https://gw.example.com/oauth/token" ||
		len(m.GrantTypesSupported) != 1 || m.GrantTypesSupported[0] != "client_credentials" {
		t.Fatalf("metadata %+v", m)
	}
}
