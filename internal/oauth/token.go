// Package oauth holds Bulwark's OAuth 2.1 pieces: a minimal authorization
// server (RFC 8414 metadata and a client-credentials token endpoint whose
// client secret is a virtual key), the signed, audience-bound access tokens it
// issues and their verifier, an RFC 7662 introspection client for external
// tokens, and the RFC 6750/9728 helpers a resource server needs to build and
// read WWW-Authenticate challenges.
package oauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

// TokenPrefix starts every access token Bulwark issues, so the resource
// server can route a bearer credential to the right verifier without
// guessing (and never send a Bulwark credential to a third party).
const TokenPrefix = "bwat_"

// Limits of the token format; anything larger is refused before decoding.
const (
	maxTokenLen  = 8 << 10
	minSignerKey = 32
	// DefaultTokenTTL is the lifetime of an issued token when none is configured.
	DefaultTokenTTL = 15 * time.Minute
	// clockSkew tolerates small clock differences on iat only; exp is strict.
	clockSkew = 30 * time.Second
)

// Errors callers branch on. Messages are public-safe: they never carry the
// token or any part of it.
var (
	// ErrInvalidToken: malformed, tampered or signed with another key.
	ErrInvalidToken = errors.New("invalid access token")
	// ErrExpired: the token's lifetime is over.
	ErrExpired = errors.New("access token expired")
	// ErrAudience: the token was issued for another resource (RFC 8707).
	ErrAudience = errors.New("access token not issued for this resource")
	// ErrKeyInactive: the key the token was issued to is revoked or expired.
	ErrKeyInactive = errors.New("key behind the access token is no longer active")
	// ErrUnavailable: the verifier could not reach what it depends on; the
	// request must be refused (fail closed), but the caller may retry.
	ErrUnavailable = errors.New("token verification unavailable")
)

// KeyStatus reports whether a virtual key is still active. The lead's key
// store implements it; a token never outlives its key because every
// verification asks.
type KeyStatus interface {
	Active(ctx context.Context, keyID string) (bool, error)
}

// Claims is the signed payload of an access token. It carries the key's
// public id and authority, never its secret.
type Claims struct {
	Subject  string   `json:"sub"`
	Tenant   string   `json:"tenant"`
	Name     string   `json:"name,omitempty"`
	Scopes   []string `json:"scopes"`
	Tools    []string `json:"tools,omitempty"`
	Models   []string `json:"models,omitempty"`
	NoLog    bool     `json:"nolog,omitempty"`
	Audience string   `json:"aud"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	ID       string   `json:"jti"`
}

// Signer issues and verifies access tokens under one HMAC-SHA256 key for one
// resource. It is immutable after construction and safe for concurrent use.
type Signer struct {
	key      []byte
	resource string
	ttl      time.Duration
	status   KeyStatus
	now      func() time.Time
}

// SignerConfig configures NewSigner.
type SignerConfig struct {
	// Key is the HMAC key (at least 32 bytes), kept in the barrier. It is copied.
	Key []byte
	// Resource is this server's resource identifier (RFC 8707), e.g.
	// "https://gw.example.com/mcp". Tokens are bound to it.
	Resource string
	// TTL of issued tokens; DefaultTokenTTL when zero.
	TTL time.Duration
	// Status re-checks, at every verification, that the key is still active.
	Status KeyStatus
	// Now is the clock; time.Now when nil (tests set it).
	Now func() time.Time
}

// NewSigner validates cfg and returns a Signer.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if len(cfg.Key) < minSignerKey {
		return nil, fmt.Errorf("oauth: signing key must be at least %d bytes", minSignerKey)
	}
	if err := validateResource(cfg.Resource); err != nil {
		return nil, err
	}
	if cfg.Status == nil {
		return nil, errors.New("oauth: a KeyStatus is required so tokens never outlive their key")
	}
	if cfg.TTL < 0 || cfg.TTL > 24*time.Hour {
		return nil, errors.New("oauth: token TTL must be between 0 and 24h")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Signer{key: bytes.Clone(cfg.Key), resource: cfg.Resource, ttl: cfg.TTL, status: cfg.Status, now: cfg.Now}, nil
}

// Resource returns the resource identifier tokens are bound to.
func (s *Signer) Resource() string { return s.resource }

// TTL returns the lifetime of issued tokens.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue returns a token for id carrying scopes (which the caller has already
// checked are a subset of id's) and its expiry.
func (s *Signer) Issue(id *identity.Identity, scopes []string) (string, time.Time, error) {
	if id == nil || id.KeyID == "" || id.Tenant == "" {
		return "", time.Time{}, errors.New("oauth: issue: identity without key id or tenant")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: issue: %w", err)
	}
	now := s.now()
	exp := now.Add(s.ttl)
	c := Claims{
		Subject: id.KeyID, Tenant: id.Tenant, Name: id.Name,
		Scopes: scopes, Tools: id.Tools, Models: id.Models, NoLog: id.NoLog,
		Audience: s.resource, IssuedAt: now.Unix(), Expiry: exp.Unix(),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: issue: %w", err)
	}
	body := TokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body)), exp, nil
}

// mac signs the prefix and the encoded payload, so the prefix is covered too.
func (s *Signer) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Parse checks the token's format and signature (in constant time) and
// returns its claims. It does not check time, audience or key status; use
// Verify for that.
func (s *Signer) Parse(token string) (*Claims, error) {
	if len(token) > maxTokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return nil, ErrInvalidToken
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(sig, ".") {
		return nil, ErrInvalidToken
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(body)) {
		return nil, ErrInvalidToken
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(body[len(TokenPrefix):])
	if err != nil {
		return nil, ErrInvalidToken
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var c Claims
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, ErrInvalidToken
	}
	if c.Subject == "" || c.Tenant == "" || c.Audience == "" || c.ID == "" || c.Expiry == 0 {
		return nil, ErrInvalidToken
	}
	return &c, nil
}

// Verify authenticates token: signature, expiry, audience and that the key
// behind it is still active. It returns the verified identity (Kind
// identity.KindAccessToken, KeyID = the key's public id).
func (s *Signer) Verify(ctx context.Context, token string) (*identity.Identity, error) {
	c, err := s.Parse(token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Unix() >= c.Expiry {
		return nil, ErrExpired
	}
	if time.Unix(c.IssuedAt, 0).After(now.Add(clockSkew)) {
		return nil, ErrInvalidToken
	}
	if !hmac.Equal([]byte(c.Audience), []byte(s.resource)) {
		return nil, ErrAudience
	}
	active, err := s.status.Active(ctx, c.Subject)
	if err != nil {
		return nil, fmt.Errorf("%w: key status: %w", ErrUnavailable, err)
	}
	if !active {
		return nil, ErrKeyInactive
	}
	return &identity.Identity{
		KeyID: c.Subject, Name: c.Name, Tenant: c.Tenant, Kind: identity.KindAccessToken,
		Scopes: c.Scopes, Tools: c.Tools, Models: c.Models, NoLog: c.NoLog,
	}, nil
}
