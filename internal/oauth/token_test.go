package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

const testResource = "https://gw.example.com/mcp"

var testSignKey = []byte("0123456789abcdef0123456789abcdef")

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestSigner(t testing.TB, ks KeyStatus, resource string, key []byte, c *clock) *Signer {
	t.Helper()
	s, err := NewSigner(SignerConfig{Key: key, Resource: resource, Status: ks, Now: c.now})
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func TestNewSignerRefusesWeakConfig(t *testing.T) {
	kr := newKeyring()
	tests := []struct {
		name string
		cfg  SignerConfig
	}{
		{"short key", SignerConfig{Key: []byte("short"), Resource: testResource, Status: kr}},
		{"no status", SignerConfig{Key: testSignKey, Resource: testResource}},
		{"http resource off loopback", SignerConfig{Key: testSignKey, Resource: "http://gw.example.com/mcp", Status: kr}},
		{"relative resource", SignerConfig{Key: testSignKey, Resource: "/mcp", Status: kr}},
		{"resource with fragment", SignerConfig{Key: testSignKey, Resource: testResource + "#x", Status: kr}},
		{"ttl too long", SignerConfig{Key: testSignKey, Resource: testResource, Status: kr, TTL: 48 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSigner(tt.cfg); err == nil {
				t.Fatal("NewSigner accepted a weak configuration")
			}
		})
	}
}

func TestVerify(t *testing.T) {
	kr := newKeyring()
	alice := &identity.Identity{KeyID: "key_alice", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"tools:fs.read"}, Tools: []string{"fs_read"}}
	bob := &identity.Identity{KeyID: "key_bob", Tenant: "acme", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}
	kr.add("sk-alice", alice)
	kr.add("sk-bob", bob)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newTestSigner(t, kr, testResource, testSignKey, c)
	other := newTestSigner(t, kr, "https://other.example.com/mcp", testSignKey, c)
	otherKey := newTestSigner(t, kr, testResource, []byte("ffffffffffffffffffffffffffffffff"), c)

	good, _, err := s.Issue(alice, alice.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	bobTok, _, _ := s.Issue(bob, bob.Scopes)
	wrongAud, _, _ := other.Issue(alice, alice.Scopes)
	wrongKey, _, _ := otherKey.Issue(alice, alice.Scopes)
	body, sig, _ := strings.Cut(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(body[len(TokenPrefix):])
	widened := strings.Replace(string(payload), `"tools:fs.read"`, `"tools:*"`, 1)
	tampered := TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + sig

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		revoke  string
		want    error
	}{
		{"valid", good, 0, "", nil},
		{"valid until just before expiry", good, DefaultTokenTTL - time.Second, "", nil},
		{"expired", good, DefaultTokenTTL, "", ErrExpired},
		{"wrong audience", wrongAud, 0, "", ErrAudience},
		{"signed with another key", wrongKey, 0, "", ErrInvalidToken},
		{"scope widened in payload", tampered, 0, "", ErrInvalidToken},
		{"signature truncated", good[:len(good)-2], 0, "", ErrInvalidToken},
		{"no signature", body, 0, "", ErrInvalidToken},
		{"extra segment", good + ".x", 0, "", ErrInvalidToken},
		{"not a bulwark token", "sk-alice", 0, "", ErrInvalidToken},
		{"empty", "", 0, "", ErrInvalidToken},
		{"huge", TokenPrefix + strings.Repeat("A", maxTokenLen), 0, "", ErrInvalidToken},
		{"key revoked after issue", bobTok, 0, "key_bob", ErrKeyInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = time.Unix(1_800_000_000, 0).Add(tt.advance)
			if tt.revoke != "" {
				kr.revoke(tt.revoke)
			}
			id, err := s.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			if id.KeyID != "key_alice" || id.Tenant != "acme" || id.Kind != identity.KindAccessToken {
				t.Fatalf("identity = %+v", id)
			}
			if !id.HasScope("tools:fs.read") || id.HasScope("tools:fs.write") || len(id.Tools) != 1 {
				t.Fatalf("token carried wrong authority: %+v", id)
			}
		})
	}
}

func TestVerifyFailsClosedWhenKeyStatusErrors(t *testing.T) {
	kr := newKeyring()
	alice := &identity.Identity{KeyID: "key_alice", Tenant: "acme", Scopes: []string{"llm"}}
	kr.add("sk-alice", alice)
	s := newTestSigner(t, kr, testResource, testSignKey, &clock{t: time.Now()})
	tok, _, _ := s.Issue(alice, alice.Scopes)
	kr.fail = errors.New("database is down")
	if _, err := s.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestTokenCarriesNoSecret(t *testing.T) {
	kr := newKeyring()
	alice := &identity.Identity{KeyID: "key_alice", Tenant: "acme", Scopes: []string{"llm"}}
	kr.add("sk-alice-very-secret", alice)
	s := newTestSigner(t, kr, testResource, testSignKey, &clock{t: time.Now()})
	tok, _, _ := s.Issue(alice, alice.Scopes)
	c, err := s.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := strings.Cut(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(body[len(TokenPrefix):])
	if strings.Contains(string(payload), "secret") || c.Subject != "key_alice" {
		t.Fatalf("payload %s", payload)
	}
}

func FuzzParseToken(f *testing.F) {
	kr := newKeyring()
	alice := &identity.Identity{KeyID: "key_alice", Tenant: "acme", Scopes: []string{"tools:*"}}
	kr.add("sk-alice", alice)
	s := newTestSigner(f, kr, testResource, testSignKey, &clock{t: time.Unix(1_800_000_000, 0)})
	good, _, _ := s.Issue(alice, alice.Scopes)
	for _, seed := range []string{good, good + ".x", good[:len(good)-3], "bwat_.", "bwat_e30.AAAA", "sk-alice", "", "bwat_" + strings.Repeat("A", 100)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Parse(tok)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		// Only a token carrying our own signature over its exact bytes parses.
		body, sig, _ := strings.Cut(tok, ".")
		if base64.RawURLEncoding.EncodeToString(s.mac(body)) != sig {
			t.Fatalf("accepted a token whose signature is not ours: %q", tok)
		}
	})
}
