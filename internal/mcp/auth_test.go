package mcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
)

// funcAuth adapts a function to the three verifier interfaces and records
// which one was asked.
type funcAuth struct {
	name  string
	calls *[]string
	fn    func(string) (*identity.Identity, error)
}

func (f funcAuth) Authenticate(_ context.Context, s string) (*identity.Identity, error) {
	*f.calls = append(*f.calls, f.name)
	return f.fn(s)
}

func (f funcAuth) Verify(ctx context.Context, s string) (*identity.Identity, error) {
	return f.Authenticate(ctx, s)
}

func TestAuthenticatorRoutesEachCredentialToItsOwner(t *testing.T) {
	ok := &identity.Identity{KeyID: "k", Tenant: "acme", Scopes: []string{"tools:*"}}
	ownerless := &identity.Identity{KeyID: "k"}
	tests := []struct {
		name      string
		bearer    string
		keys      func(string) (*identity.Identity, error)
		wantCalls string
		wantErr   error
	}{
		{"virtual key", "sk-bw-abc", func(string) (*identity.Identity, error) { return ok, nil }, "keys", nil},
		{"access token", oauth.TokenPrefix + "abc.def", nil, "tokens", nil},
		{"external token", "eyJexternal", nil, "introspect", nil},
		{"key store reason stays private", "sk-bw-abc", func(string) (*identity.Identity, error) { return nil, errors.New("row 42 revoked by admin bob") }, "keys", errBadCredentials},
		{"key store down", "sk-bw-abc", func(string) (*identity.Identity, error) { return nil, fmt.Errorf("%w: db", oauth.ErrUnavailable) }, "keys", oauth.ErrUnavailable},
		{"identity without tenant", "sk-bw-abc", func(string) (*identity.Identity, error) { return ownerless, nil }, "keys", errBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			ok2 := func(string) (*identity.Identity, error) { return ok, nil }
			keys := tt.keys
			if keys == nil {
				keys = ok2
			}
			a := &authenticator{
				keys:       funcAuth{"keys", &calls, keys},
				tokens:     funcAuth{"tokens", &calls, ok2},
				introspect: funcAuth{"introspect", &calls, ok2},
				keyPrefix:  "sk-bw-",
			}
			_, err := a.authenticate(context.Background(), tt.bearer)
			if !errors.Is(err, tt.wantErr) || strings.Join(calls, ",") != tt.wantCalls {
				t.Fatalf("err %v calls %v; want %v %s", err, calls, tt.wantErr, tt.wantCalls)
			}
			if err != nil && strings.Contains(err.Error(), "bob") {
				t.Fatalf("private reason leaked: %v", err)
			}
		})
	}
}

func TestUnavailableAuthenticationIs503(t *testing.T) {
	var calls []string
	down := funcAuth{"keys", &calls, func(string) (*identity.Identity, error) { return nil, fmt.Errorf("%w: db", oauth.ErrUnavailable) }}
	h, err := NewHandler(Config{BaseURL: "http://127.0.0.1:1"}, Deps{Keys: down, Audit: &memAudit{}, Tools: testTools(t.TempDir()+"/c", new(sync.Map))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(initBody))
	req.Header.Set("Authorization", "Bearer sk-bw-whatever")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "db") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}

func TestNewHandlerRefusesUnsafeConfig(t *testing.T) {
	var calls []string
	keys := funcAuth{"keys", &calls, nil}
	tests := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"introspection without key prefix", Config{BaseURL: "https://gw.example.com"}, Deps{Keys: keys, Audit: &memAudit{}, Introspector: keys}},
		{"no audit", Config{BaseURL: "https://gw.example.com"}, Deps{Keys: keys}},
		{"base URL with path", Config{BaseURL: "https://gw.example.com/x"}, Deps{Keys: keys, Audit: &memAudit{}}},
		{"unknown protocol version", Config{BaseURL: "https://gw.example.com", ProtocolVersions: []string{"2099-01-01"}}, Deps{Keys: keys, Audit: &memAudit{}}},
		{"bad origin", Config{BaseURL: "https://gw.example.com", AllowedOrigins: []string{"*"}}, Deps{Keys: keys, Audit: &memAudit{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHandler(tt.cfg, tt.deps); err == nil {
				t.Fatal("NewHandler accepted an unsafe configuration")
			}
		})
	}
}
