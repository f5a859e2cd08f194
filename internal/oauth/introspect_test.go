package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAS is an RFC 7662 introspection endpoint that answers from a table of
// tokens and counts its hits per token.
type fakeAS struct {
	mu      sync.Mutex
	answers map[string]map[string]any
	hits    map[string]int
	total   atomic.Int64
	status  int
	// block, when set, holds every answer until it is closed.
	block chan struct{}
}

func (f *fakeAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.total.Add(1)
	user, pass, ok := r.BasicAuth()
	if !ok || user != "bulwark" || pass != "as-client-secret" || r.Method != http.MethodPost {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[tok]++
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	ans, ok := f.answers[tok]
	if !ok {
		ans = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

func (f *fakeAS) hitsFor(tok string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[tok]
}

func newIntrospector(t *testing.T, c *clock, entries int) (*Introspector, *fakeAS) {
	t.Helper()
	exp := c.t.Add(time.Hour).Unix()
	as := &fakeAS{hits: map[string]int{}, answers: map[string]map[string]any{
		"tok-active":      {"active": true, "sub": "svc-ci", "scope": "tools:fs.read tools:time", "aud": testResource, "exp": exp},
		"tok-aud-array":   {"active": true, "sub": "svc-ci", "scope": "llm", "aud": []string{"https://x.example", testResource}, "exp": exp},
		"tok-client-only": {"active": true, "client_id": "svc-ci", "scope": "llm", "aud": testResource, "exp": exp},
		"tok-inactive":    {"active": false, "sub": "svc-ci", "aud": testResource},
		"tok-wrong-aud":   {"active": true, "sub": "svc-ci", "aud": "https://other.example.com/mcp", "exp": exp},
		"tok-no-aud":      {"active": true, "sub": "svc-ci", "exp": exp},
		"tok-unmapped":    {"active": true, "sub": "svc-unknown", "aud": testResource, "exp": exp},
		"tok-expired":     {"active": true, "sub": "svc-ci", "aud": testResource, "exp": c.t.Add(-time.Second).Unix()},
		"tok-short":       {"active": true, "sub": "svc-ci", "aud": testResource, "exp": c.t.Add(10 * time.Second).Unix()},
		"tok-active-2":    {"active": true, "sub": "svc-ci", "aud": testResource, "exp": exp},
		"tok-active-3":    {"active": true, "sub": "svc-ci", "aud": testResource, "exp": exp},
	}}
	srv := httptest.NewServer(as)
	t.Cleanup(srv.Close)
	in := &Introspector{
		Endpoint: srv.URL, ClientID: "bulwark", ClientSecret: "as-client-secret",
		Resource: testResource, TenantMap: map[string]string{"svc-ci": "acme"},
		MaxCacheTTL: time.Minute, MaxEntries: entries, Now: c.now,
	}
	if err := in.Init(); err != nil {
		t.Fatal(err)
	}
	return in, as
}

func TestIntrospectorDecisions(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, _ := newIntrospector(t, c, 0)
	tests := []struct {
		name       string
		token      string
		want       error
		wantScopes string
	}{
		{"active", "tok-active", nil, "tools:fs.read tools:time"},
		{"aud array names us", "tok-aud-array", nil, "llm"},
		{"client_id when no sub", "tok-client-only", nil, "llm"},
		{"inactive", "tok-inactive", ErrInactive, ""},
		{"unknown token", "tok-nobody-issued", ErrInactive, ""},
		{"wrong audience", "tok-wrong-aud", ErrAudience, ""},
		{"missing audience", "tok-no-aud", ErrAudience, ""},
		{"unmapped subject", "tok-unmapped", ErrUnmappedSubject, ""},
		{"expired", "tok-expired", ErrExpired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := in.Authenticate(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), tt.token) || strings.Contains(err.Error(), "as-client-secret") {
					t.Fatalf("error leaks a credential: %v", err)
				}
				return
			}
			if id.Tenant != "acme" || id.KeyID != "svc-ci" || strings.Join(id.Scopes, " ") != tt.wantScopes {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestIntrospectorCache(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, as := newIntrospector(t, c, 2)
	ctx := context.Background()
	for range 5 {
		if _, err := in.Authenticate(ctx, "tok-active"); err != nil {
			t.Fatal(err)
		}
	}
	if n := as.hitsFor("tok-active"); n != 1 {
		t.Fatalf("endpoint hit %d times within the TTL, want 1", n)
	}
	c.t = c.t.Add(61 * time.Second) // past MaxCacheTTL, before exp
	_, _ = in.Authenticate(ctx, "tok-active")
	if n := as.hitsFor("tok-active"); n != 2 {
		t.Fatalf("cache outlived MaxCacheTTL: hits %d", n)
	}

	_, _ = in.Authenticate(ctx, "tok-short")
	c.t = c.t.Add(11 * time.Second) // past the token's own exp, before MaxCacheTTL
	if _, err := in.Authenticate(ctx, "tok-short"); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token served from cache: %v", err)
	}

	_, _ = in.Authenticate(ctx, "tok-active-2")
	_, _ = in.Authenticate(ctx, "tok-active-3")
	if in.Len() > 2 {
		t.Fatalf("cache holds %d entries, cap 2", in.Len())
	}
}

func TestIntrospectorFailsClosed(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, as := newIntrospector(t, c, 0)
	as.status = http.StatusInternalServerError
	if _, err := in.Authenticate(context.Background(), "tok-active"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	as.status = 0
	in.Endpoint = "http://127.0.0.1:1/introspect"
	if _, err := in.Authenticate(context.Background(), "tok-active"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable endpoint: err = %v", err)
	}
	var zero Introspector
	if _, err := zero.Authenticate(context.Background(), "tok-active"); err == nil {
		t.Fatal("uninitialised introspector accepted a token")
	}
}

func TestIntrospectorInitRefusesBadConfig(t *testing.T) {
	base := func() *Introspector {
		return &Introspector{Endpoint: "https://as.example.com/introspect", ClientID: "a", ClientSecret: "b", Resource: testResource, TenantMap: map[string]string{"s": "t"}}
	}
	tests := []struct {
		name string
		mut  func(*Introspector)
	}{
		{"plain http endpoint", func(i *Introspector) { i.Endpoint = "http://as.example.com/introspect" }},
		{"no credentials", func(i *Introspector) { i.ClientSecret = "" }},
		{"no tenant map", func(i *Introspector) { i.TenantMap = nil }},
		{"no resource", func(i *Introspector) { i.Resource = "" }},
		{"negative ttl", func(i *Introspector) { i.MaxCacheTTL = -1 }},
		{"negative negative-cache ttl", func(i *Introspector) { i.NegativeTTL = -time.Second }},
		{"negative-cache ttl past the bound", func(i *Introspector) { i.NegativeTTL = MaxNegativeCacheTTL + time.Second }},
		{"negative negative-cache size", func(i *Introspector) { i.MaxNegativeEntries = -1 }},
		{"negative cache size", func(i *Introspector) { i.MaxEntries = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.mut(in)
			if err := in.Init(); err == nil {
				t.Fatal("Init accepted a bad configuration")
			}
		})
	}
}
