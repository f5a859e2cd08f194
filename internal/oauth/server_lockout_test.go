package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// countingKeys counts how often the key store is asked.
type countingKeys struct {
	*keyring
	calls atomic.Int64
	down  atomic.Bool
}

func (c *countingKeys) Authenticate(ctx context.Context, secret string) (*identity.Identity, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return nil, errors.Join(ErrUnavailable, errors.New("store down"))
	}
	return c.keyring.Authenticate(ctx, secret)
}

// newLockoutFixture serves the token endpoint behind a real auth.Lockout
// allowing perMinute failures per client address, auditing its refusals
// through the returned auth.Refusals.
func newLockoutFixture(t *testing.T, perMinute int) (*httptest.Server, *countingKeys, *memAudit, *auth.Refusals) {
	t.Helper()
	kr := &countingKeys{keyring: newKeyring()}
	kr.add(aliceSecret, &identity.Identity{KeyID: "key_alice", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:time"}})
	signer, err := NewSigner(SignerConfig{Key: testSignKey, Resource: testResource, Status: kr.keyring})
	if err != nil {
		t.Fatal(err)
	}
	au := &memAudit{}
	refusals := auth.NewRefusals(au, nil)
	as, err := NewAuthServer(AuthServerConfig{Issuer: "https://gw.example.com", Signer: signer, Keys: kr, Audit: au,
		Lockout:    auth.NewLockout(perMinute),
		Failures:   refusals,
		ClientKey:  func(r *http.Request) string { h, _, _ := net.SplitHostPort(r.RemoteAddr); return h },
		WellFormed: func(s string) bool { return strings.HasPrefix(s, "sk-bw-") },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(as.TokenHandler())
	t.Cleanup(srv.Close)
	return srv, kr, au, refusals
}

func postToken(t *testing.T, srv *httptest.Server, secret string) (int, string, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}, "resource": {testResource}}
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	code, _ := body["error"].(string)
	return resp.StatusCode, code, resp.Header.Get("Retry-After")
}

func TestTokenEndpointLockout(t *testing.T) {
	srv, keys, au, _ := newLockoutFixture(t, 3)
	wrong := "sk-bw-alice-" + strings.Repeat("0", 32)
	steps := []struct {
		name       string
		secret     string
		wantStatus int
		wantErr    string
	}{
		{"1st wrong secret", wrong, 401, "invalid_client"},
		{"2nd wrong secret", wrong, 401, "invalid_client"},
		{"3rd wrong secret", wrong, 401, "invalid_client"},
		{"4th locks the client out", wrong, 429, "temporarily_unavailable"},
		{"a well-formed wrong key is still refused", wrong, 429, "temporarily_unavailable"},
		{"junk is shed", "hunter2", 429, "temporarily_unavailable"},
		{"a valid key keeps working", aliceSecret, 200, ""},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			status, code, retry := postToken(t, srv, tt.secret)
			if status != tt.wantStatus || code != tt.wantErr {
				t.Fatalf("status %d error %q, want %d %q", status, code, tt.wantStatus, tt.wantErr)
			}
			if status == 429 {
				if n, err := strconv.Atoi(retry); err != nil || n < 1 {
					t.Fatalf("429 without a usable Retry-After: %q", retry)
				}
			}
		})
	}
	t.Run("junk never reached the key store while locked out", func(t *testing.T) {
		before := keys.calls.Load()
		for range 20 {
			if status, _, _ := postToken(t, srv, "not-a-key"); status != 429 {
				t.Fatalf("status %d", status)
			}
		}
		if n := keys.calls.Load() - before; n != 0 {
			t.Fatalf("%d junk secrets were checked against the key store", n)
		}
	})
	t.Run("audit has the first failure and the lockout, not the flood", func(t *testing.T) {
		var denied, ok int
		for _, e := range au.all() {
			switch e.Outcome {
			case audit.OutcomeDenied:
				denied++
				if e.Details["client"] != "127.0.0.1" {
					t.Fatalf("denial without the client: %+v", e)
				}
			case audit.OutcomeSuccess:
				ok++
			}
			if strings.Contains(strings.Join([]string{e.Actor, e.Target, e.Details["error"]}, " "), wrong) {
				t.Fatal("a secret reached the audit log")
			}
		}
		if denied != 2 || ok != 1 {
			t.Fatalf("audited %d denials and %d issuances, want 2 (first failure, lockout) and 1", denied, ok)
		}
	})
}

// TestTokenRefusalEntriesCountTheBurst: a burst of refused token requests
// from one client — wrong keys, junk, a valid key asking beyond its
// scopes, and all of these while it is locked out — writes a bounded
// number of oauth.token entries (the first, the lockout's start, one
// summary) whose counts add up to the burst, and none names a secret.
func TestTokenRefusalEntriesCountTheBurst(t *testing.T) {
	srv, _, au, refusals := newLockoutFixture(t, 3)
	wrong := "sk-bw-alice-" + strings.Repeat("0", 32)
	const n = 200
	for i := range n {
		form := url.Values{"grant_type": {"client_credentials"}, "client_secret": {wrong}, "resource": {testResource}}
		switch i % 4 {
		case 1:
			form.Set("client_secret", "junk-"+strconv.Itoa(i))
		case 2:
			form.Set("client_secret", aliceSecret)
			form.Set("scope", "admin")
		}
		resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("request %d was granted", i)
		}
	}
	refusals.Close()
	evs := au.all()
	if len(evs) > 3 {
		t.Fatalf("%d refusals wrote %d entries, want at most 3: %+v", n, len(evs), evs)
	}
	total := 0
	for _, e := range evs {
		if e.Action != "oauth.token" || e.Outcome != audit.OutcomeDenied {
			t.Fatalf("entry %+v: want an oauth.token denial", e)
		}
		if strings.Contains(fmt.Sprint(e), wrong) || strings.Contains(fmt.Sprint(e), aliceSecret) {
			t.Fatal("a secret reached the audit log")
		}
		r, err := strconv.Atoi(e.Details[auth.DetailRepeats])
		if err != nil && e.Details[auth.DetailRepeats] != "" {
			t.Fatalf("repeats %q", e.Details[auth.DetailRepeats])
		}
		total += r
		if e.Details["summary"] != "true" {
			total++
		}
	}
	if total != n {
		t.Fatalf("entries stand for %d refusals, want %d: %+v", total, n, evs)
	}
	if last := evs[len(evs)-1]; last.Details["summary"] != "true" || last.Actor != "client:127.0.0.1" {
		t.Fatalf("last entry %+v: want the summary of the client's refusals", last)
	}
}

func TestTokenEndpointStoreOutageDoesNotLockOut(t *testing.T) {
	srv, keys, _, _ := newLockoutFixture(t, 1)
	keys.down.Store(true)
	for range 5 {
		if status, code, _ := postToken(t, srv, aliceSecret); status != 503 || code != "temporarily_unavailable" {
			t.Fatalf("store outage answered %d %q, want 503", status, code)
		}
	}
	keys.down.Store(false)
	if status, _, _ := postToken(t, srv, "sk-bw-x"); status != 401 {
		t.Fatalf("after an outage the first bad secret got %d, want 401 (outages must not count)", status)
	}
}

func TestNewAuthServerNeedsClientKeyAndFailuresWithLockout(t *testing.T) {
	signer, err := NewSigner(SignerConfig{Key: testSignKey, Resource: testResource, Status: newKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	clientKey := func(*http.Request) string { return "c" }
	for _, tt := range []struct {
		name string
		cfg  AuthServerConfig
	}{
		{"lockout without client key", AuthServerConfig{Lockout: auth.NewLockout(3), Failures: auth.NewRefusals(&memAudit{}, nil)}},
		{"lockout without failure audit", AuthServerConfig{Lockout: auth.NewLockout(3), ClientKey: clientKey}},
		{"failure audit without lockout", AuthServerConfig{Failures: auth.NewRefusals(&memAudit{}, nil)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Issuer, cfg.Signer, cfg.Keys = "https://gw.example.com", signer, newKeyring()
			if _, err := NewAuthServer(cfg); err == nil {
				t.Fatal("an incomplete lockout was accepted")
			}
		})
	}
}
