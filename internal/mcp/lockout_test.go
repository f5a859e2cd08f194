package mcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
)

// lockoutRig is an MCP handler behind a real auth.Lockout whose verifiers
// count how often they are asked.
type lockoutRig struct {
	h        *Handler
	audit    *memAudit
	failures *auth.Refusals // audits the failures into audit
	mu       sync.Mutex
	calls    []string
	down     bool // the key store fails (503)
}

const lockoutAllowance = 3

func newLockoutRig(t *testing.T) *lockoutRig {
	t.Helper()
	rig := &lockoutRig{audit: &memAudit{}}
	rig.failures = auth.NewRefusals(rig.audit, nil)
	good := &identity.Identity{KeyID: "key_ok", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:*"}}
	verify := func(name, valid string) funcAuth {
		return funcAuth{name, &rig.calls, func(s string) (*identity.Identity, error) {
			if name == "keys" && rig.down {
				return nil, fmt.Errorf("%w: db", oauth.ErrUnavailable)
			}
			if s == valid {
				return good, nil
			}
			return nil, oauth.ErrInactive
		}}
	}
	h, err := NewHandler(Config{BaseURL: "http://127.0.0.1:1", KeyPrefix: "sk-bw-"}, Deps{
		Keys: verify("keys", secretAll), Tokens: verify("tokens", oauth.TokenPrefix+"good"), Introspector: verify("introspect", "ext-good"),
		Audit: rig.audit, Tools: testTools(t.TempDir()+"/c", new(sync.Map)), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	rig.h, err = h.WithLockout(Lockout{
		Limiter:    auth.NewLockout(lockoutAllowance),
		Failures:   rig.failures,
		ClientKey:  func(r *http.Request) string { host, _, _ := net.SplitHostPort(r.RemoteAddr); return host },
		WellFormed: func(s string) bool { return strings.HasPrefix(s, "sk-bw-") },
	})
	if err != nil {
		t.Fatal(err)
	}
	return rig
}

// do sends one initialize request from client with the given
// Authorization header ("" for none) and returns the response and the
// verifiers it reached.
func (rig *lockoutRig) do(client, authz string) (*httptest.ResponseRecorder, []string) {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	rig.calls = nil
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(initBody))
	req.RemoteAddr = client + ":40000"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	rig.h.ServeHTTP(rec, req)
	return rec, append([]string(nil), rig.calls...)
}

// lockOut spends client's allowance and the failure that locks it out.
func (rig *lockoutRig) lockOut(t *testing.T, client string) {
	t.Helper()
	for i := range lockoutAllowance + 1 {
		rec, _ := rig.do(client, "Bearer sk-bw-guess-"+fmt.Sprint(i))
		want := http.StatusUnauthorized
		if i == lockoutAllowance {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want {
			t.Fatalf("bad key %d: status %d, want %d", i, rec.Code, want)
		}
	}
}

// TestLockedOutClientOnMCP: once a client is locked out, only a bearer
// shaped like a virtual key still reaches a verifier (as on the LLM API);
// everything else is refused with 429 before any verifier is asked.
func TestLockedOutClientOnMCP(t *testing.T) {
	rig := newLockoutRig(t)
	const attacker, other = "203.0.113.7", "198.51.100.9"
	rig.lockOut(t, attacker)
	tests := []struct {
		name      string
		client    string
		authz     string
		wantCode  int
		wantCalls string
	}{
		{"valid key from the locked client", attacker, "Bearer " + secretAll, http.StatusOK, "keys"},
		{"bad key from the locked client", attacker, "Bearer sk-bw-guess-more", http.StatusTooManyRequests, "keys"},
		{"valid access token from the locked client", attacker, "Bearer " + oauth.TokenPrefix + "good", http.StatusTooManyRequests, ""},
		{"external token from the locked client", attacker, "Bearer ext-guess", http.StatusTooManyRequests, ""},
		{"no bearer from the locked client", attacker, "", http.StatusTooManyRequests, ""},
		{"malformed header from the locked client", attacker, "Basic Zm9vOmJhcg==", http.StatusTooManyRequests, ""},
		{"valid key from another client", other, "Bearer " + secretAll, http.StatusOK, "keys"},
		{"external token from another client", other, "Bearer ext-good", http.StatusOK, "introspect"},
		{"bad token from another client", other, "Bearer ext-guess", http.StatusUnauthorized, "introspect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, calls := rig.do(tt.client, tt.authz)
			if rec.Code != tt.wantCode || strings.Join(calls, ",") != tt.wantCalls {
				t.Fatalf("status %d calls %v; want %d %q: %s", rec.Code, calls, tt.wantCode, tt.wantCalls, rec.Body)
			}
			if rec.Code != http.StatusTooManyRequests {
				return
			}
			if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 without a usable Retry-After: %q", ra)
			}
			if ch := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, "resource_metadata=") {
				t.Errorf("429 without the RFC 9728 challenge: %q", ch)
			}
		})
	}
}

// TestEveryFailedBearerCounts: whatever verifier refuses the bearer (key
// store, token signature, introspection) or if the header is malformed,
// the failure counts, and the one past the allowance locks the client out.
func TestEveryFailedBearerCounts(t *testing.T) {
	tests := []struct {
		name  string
		authz string
	}{
		{"bad virtual key", "Bearer sk-bw-guess"},
		{"bad access token", "Bearer " + oauth.TokenPrefix + "forged"},
		{"bad external token", "Bearer ext-guess"},
		{"malformed header", "Bearer two words"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newLockoutRig(t)
			for i := range lockoutAllowance + 1 {
				rec, _ := rig.do("192.0.2.1", tt.authz)
				want := http.StatusUnauthorized
				if i == lockoutAllowance {
					want = http.StatusTooManyRequests
				}
				if rec.Code != want {
					t.Fatalf("failure %d: status %d, want %d", i, rec.Code, want)
				}
			}
		})
	}
}

// TestMCPFailuresThatDoNotCount: discovery (no bearer) and an outage of
// the key store are not the client's failures; they never lock it out.
func TestMCPFailuresThatDoNotCount(t *testing.T) {
	tests := []struct {
		name  string
		authz string
		down  bool
		want  int
	}{
		{"no bearer", "", false, http.StatusUnauthorized},
		{"key store down", "Bearer sk-bw-any", true, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newLockoutRig(t)
			rig.down = tt.down
			for i := range 4 * lockoutAllowance {
				if rec, _ := rig.do("192.0.2.1", tt.authz); rec.Code != tt.want {
					t.Fatalf("request %d: status %d, want %d", i, rec.Code, tt.want)
				}
			}
			if evs := rig.audit.all(); len(evs) != 0 {
				t.Fatalf("audited %d failures that are not the client's", len(evs))
			}
		})
	}
}

// TestMCPLockoutAudit: a flood of key-shaped guesses leaves three
// auth.failure entries per client and minute, as on the LLM API (the
// first failure of the window, the start of the lockout, and the first
// failure after the lockout reset the count), named by client address,
// with no credential in them. Anything not shaped like a key is refused
// before it is verified or counted toward the lockout, and only counted
// in the audit (TestMCPFailureEntriesCountTheBurst).
func TestMCPLockoutAudit(t *testing.T) {
	rig := newLockoutRig(t)
	rig.lockOut(t, "203.0.113.7")
	for range 20 {
		rig.do("203.0.113.7", "Bearer sk-bw-guess-flood")
		rig.do("203.0.113.7", "Bearer ext-guess-flood")
	}
	evs := rig.audit.all()
	if len(evs) != 3 {
		t.Fatalf("%d audit entries for a flood, want 3: %+v", len(evs), evs)
	}
	for i, want := range []string{"false", "true", "true"} {
		e := evs[i]
		if e.Action != "auth.failure" || e.Outcome != audit.OutcomeDenied || e.Actor != "client:203.0.113.7" ||
			e.Target != "/mcp" || e.Details["locked"] != want || e.Details["reason"] == "" {
			t.Errorf("entry %d: %+v", i, e)
		}
		if strings.Contains(fmt.Sprint(e), "sk-bw-guess") {
			t.Errorf("entry %d carries the credential: %+v", i, e)
		}
	}
}

// TestMCPFailureEntriesCountTheBurst: a burst of failed authentications
// on /mcp from one client — bad keys (verified even under lockout),
// external tokens and access tokens (refused unverified once it is locked
// out) — writes a bounded number of auth.failure entries (the first, the
// lockout's start, the first after it, one summary) whose counts add up
// to the burst.
func TestMCPFailureEntriesCountTheBurst(t *testing.T) {
	rig := newLockoutRig(t)
	const n = 300
	for i := range n {
		bearer := []string{"sk-bw-guess-", "ext-guess-", oauth.TokenPrefix + "guess-"}[i%3] + fmt.Sprint(i)
		if rec, _ := rig.do("203.0.113.7", "Bearer "+bearer); rec.Code == http.StatusOK {
			t.Fatalf("bearer %d got in", i)
		}
	}
	rig.failures.Close()
	evs := rig.audit.all()
	if len(evs) > 4 {
		t.Fatalf("%d failures wrote %d entries, want at most 4: %+v", n, len(evs), evs)
	}
	total := 0
	for _, e := range evs {
		if e.Action != "auth.failure" || e.Actor != "client:203.0.113.7" {
			t.Fatalf("entry %+v: want the client's auth.failure", e)
		}
		r, _ := strconv.Atoi(e.Details[auth.DetailRepeats])
		total += r
		if e.Details["summary"] != "true" {
			total++
		}
	}
	if total != n {
		t.Fatalf("entries stand for %d failures, want %d: %+v", total, n, evs)
	}
}

func TestWithLockoutNeedsEveryPart(t *testing.T) {
	rig := newLockoutRig(t)
	full := Lockout{Limiter: auth.NewLockout(1), Failures: auth.NewRefusals(&memAudit{}, nil),
		ClientKey: func(*http.Request) string { return "" }, WellFormed: func(string) bool { return true }}
	for _, tt := range []struct {
		name string
		drop func(*Lockout)
	}{
		{"no limiter", func(l *Lockout) { l.Limiter = nil }},
		{"no failure audit", func(l *Lockout) { l.Failures = nil }},
		{"no client key", func(l *Lockout) { l.ClientKey = nil }},
		{"no key shape", func(l *Lockout) { l.WellFormed = nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := full
			tt.drop(&l)
			if _, err := rig.h.WithLockout(l); err == nil {
				t.Fatal("WithLockout accepted an incomplete lockout")
			}
		})
	}
}

func TestFailureReasonNamesNoSecret(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{oauth.ErrExpired, "expired"},
		{fmt.Errorf("x: %w", oauth.ErrAudience), "audience"},
		{oauth.ErrKeyInactive, "key_inactive"},
		{oauth.ErrInactive, "inactive"},
		{oauth.ErrUnmappedSubject, "unmapped_subject"},
		{errors.New("sk-bw-secret rejected"), "rejected"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := failureReason(tt.err); got != tt.want {
				t.Fatalf("failureReason(%v) = %q", tt.err, got)
			}
		})
	}
}

// BenchmarkAuthenticateRequest measures what the lockout adds to the
// authentication of a valid key (one Locked lookup per request).
func BenchmarkAuthenticateRequest(b *testing.B) {
	kr := &keyring{revoked: map[string]bool{}, keys: map[string]*identity.Identity{
		secretAll: {KeyID: "key_all", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:*"}},
	}}
	plain, err := NewHandler(Config{BaseURL: "http://127.0.0.1:1", KeyPrefix: "sk-bw-"}, Deps{Keys: kr, Audit: &memAudit{}})
	if err != nil {
		b.Fatal(err)
	}
	locked, err := plain.WithLockout(Lockout{Limiter: auth.NewLockout(lockoutAllowance), Failures: auth.NewRefusals(&memAudit{}, nil),
		ClientKey:  func(r *http.Request) string { host, _, _ := net.SplitHostPort(r.RemoteAddr); return host },
		WellFormed: func(s string) bool { return strings.HasPrefix(s, "sk-bw-") }})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		h    *Handler
	}{{"without lockout", plain}, {"with lockout", locked}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.RemoteAddr = "192.0.2.1:40000"
			req.Header.Set("Authorization", "Bearer "+secretAll)
			rec := httptest.NewRecorder()
			for b.Loop() {
				if bc.h.authenticateRequest(rec, req) == nil {
					b.Fatal("valid key refused")
				}
			}
		})
	}
}
