package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

// Introspection errors callers branch on (all mean "refuse the request").
var (
	// ErrInactive: the authorization server says the token is not active.
	ErrInactive = errors.New("token is not active")
	// ErrUnmappedSubject: the token's subject is bound to no tenant here.
	ErrUnmappedSubject = errors.New("token subject is not bound to a tenant")
)

// Defaults for Introspector.
const (
	DefaultIntrospectionCacheTTL     = 5 * time.Minute
	DefaultIntrospectionCacheEntries = 10000
	DefaultNegativeCacheTTL          = 30 * time.Second
	DefaultNegativeCacheEntries      = 10000
	// MaxNegativeCacheTTL bounds NegativeTTL: a refusal remembered longer
	// would keep a token out well after the authorization server started
	// accepting it (an unmapped subject mapped, a clock corrected), and a
	// typo ("30m" for "30s") must not do that silently.
	MaxNegativeCacheTTL  = 5 * time.Minute
	maxIntrospectionBody = 64 << 10
)

// Introspector authenticates external bearer tokens with RFC 7662 token
// introspection. Results are cached for the token's lifetime, capped by
// MaxCacheTTL, in a bounded LRU keyed by the token's SHA-256 (the raw token
// is never kept). Refusals (inactive, expired, wrong audience, unmapped
// subject) are cached too, briefly and in a separate bounded LRU, so a
// client replaying a bad token cannot turn each request into an outbound
// POST, nor evict good tokens; concurrent lookups of one token share one
// POST. Failures to reach the endpoint are never cached. Configure the
// exported fields, then call Init once before use; after that it is safe
// for concurrent use.
type Introspector struct {
	// Endpoint is the introspection URL (https; http only on loopback).
	Endpoint string
	// ClientID and ClientSecret authenticate Bulwark to the endpoint
	// (client_secret_basic).
	ClientID     string
	ClientSecret string
	// Resource is this server's resource identifier; the token's aud must name it.
	Resource string
	// TenantMap binds a token's subject (or, without sub, its client_id) to
	// the tenant it acts for. An unmapped subject is refused.
	TenantMap map[string]string
	// MaxCacheTTL caps how long an active result is cached
	// (DefaultIntrospectionCacheTTL when zero).
	MaxCacheTTL time.Duration
	// MaxEntries caps the cache size (DefaultIntrospectionCacheEntries when zero).
	MaxEntries int
	// NegativeTTL is how long a refusal is cached (DefaultNegativeCacheTTL
	// when zero). Keep it short: a token refused now may become valid.
	NegativeTTL time.Duration
	// MaxNegativeEntries caps the refusal cache (DefaultNegativeCacheEntries when zero).
	MaxNegativeEntries int
	// HTTPClient makes the calls; a client with a 10 s timeout when nil.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	active  *ttlCache[*identity.Identity]
	refused *ttlCache[error]
	flight  singleflight.Group
	ready   bool
}

// Init validates the configuration and prepares the cache.
func (in *Introspector) Init() error {
	if err := validateResource(in.Endpoint); err != nil {
		return fmt.Errorf("oauth: introspection endpoint: %w", err)
	}
	if err := validateResource(in.Resource); err != nil {
		return fmt.Errorf("oauth: introspection resource: %w", err)
	}
	if in.ClientID == "" || in.ClientSecret == "" {
		return errors.New("oauth: introspection needs client credentials")
	}
	if len(in.TenantMap) == 0 {
		return errors.New("oauth: introspection needs a tenant map (subject → tenant)")
	}
	if in.MaxCacheTTL < 0 || in.MaxEntries < 0 || in.NegativeTTL < 0 || in.MaxNegativeEntries < 0 {
		return errors.New("oauth: introspection cache limits must not be negative")
	}
	if in.NegativeTTL > MaxNegativeCacheTTL {
		return fmt.Errorf("oauth: introspection negative cache TTL %v exceeds %v", in.NegativeTTL, MaxNegativeCacheTTL)
	}
	if in.NegativeTTL == 0 {
		in.NegativeTTL = DefaultNegativeCacheTTL
	}
	if in.MaxNegativeEntries == 0 {
		in.MaxNegativeEntries = DefaultNegativeCacheEntries
	}
	if in.MaxCacheTTL == 0 {
		in.MaxCacheTTL = DefaultIntrospectionCacheTTL
	}
	if in.MaxEntries == 0 {
		in.MaxEntries = DefaultIntrospectionCacheEntries
	}
	if in.HTTPClient == nil {
		in.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	in.active, in.refused = newTTLCache[*identity.Identity](in.MaxEntries), newTTLCache[error](in.MaxNegativeEntries)
	in.ready = true
	return nil
}

// introspection is the part of an RFC 7662 response Bulwark reads.
type introspection struct {
	Active   bool            `json:"active"`
	Scope    string          `json:"scope"`
	ClientID string          `json:"client_id"`
	Username string          `json:"username"`
	Sub      string          `json:"sub"`
	Exp      int64           `json:"exp"`
	Aud      json.RawMessage `json:"aud"`
}

// Authenticate returns the identity for an external token, from the cache
// or the introspection endpoint.
func (in *Introspector) Authenticate(ctx context.Context, token string) (*identity.Identity, error) {
	if !in.ready {
		return nil, fmt.Errorf("%w: introspector not initialised", ErrUnavailable)
	}
	if token == "" || len(token) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	key := sha256.Sum256([]byte(token))
	now := in.Now()
	if id, ok := in.active.get(key, now); ok {
		return id, nil
	}
	if err, ok := in.refused.get(key, now); ok {
		return nil, err
	}
	// One POST per token at a time: the lookup runs detached from the
	// first caller's context (the HTTP client's timeout bounds it), and
	// each caller stops waiting when its own context ends.
	ch := in.flight.DoChan(string(key[:]), func() (any, error) {
		return in.lookup(context.WithoutCancel(ctx), key, token)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*identity.Identity), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// lookup introspects token and caches the answer: an identity until it
// expires, a refusal for NegativeTTL, an unreachable endpoint not at all.
func (in *Introspector) lookup(ctx context.Context, key [32]byte, token string) (*identity.Identity, error) {
	res, err := in.call(ctx, token)
	if err != nil {
		return nil, err
	}
	id, expires, err := in.check(res)
	if err != nil {
		in.refused.put(key, err, in.Now().Add(in.NegativeTTL))
		return nil, err
	}
	in.active.put(key, id, expires)
	return id, nil
}

// call POSTs the token to the endpoint. Errors never carry the token or the
// client secret.
func (in *Introspector) call(ctx context.Context, token string) (*introspection, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	// in.Endpoint is the operator's configured introspection URL, never
	// caller input.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.Endpoint, strings.NewReader(form.Encode())) //nolint:gosec // G704: see above
	if err != nil {
		return nil, fmt.Errorf("%w: build request", ErrUnavailable)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	resp, err := in.HTTPClient.Do(req) //nolint:gosec // G704: the operator's endpoint, see above
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request failed", ErrUnavailable)
	}
	defer func() { _ = resp.Body.Close() }() // read side: errors surface from ReadAll
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody+1))
	if err != nil || len(body) > maxIntrospectionBody {
		return nil, fmt.Errorf("%w: introspection response unreadable or too large", ErrUnavailable)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint answered %d", ErrUnavailable, resp.StatusCode)
	}
	var res introspection
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("%w: introspection response is not JSON", ErrUnavailable)
	}
	return &res, nil
}

// check applies Bulwark's rules to an introspection result and returns the
// identity and how long it may be cached.
func (in *Introspector) check(res *introspection) (*identity.Identity, time.Time, error) {
	if !res.Active {
		return nil, time.Time{}, ErrInactive
	}
	now := in.Now()
	if res.Exp != 0 && now.Unix() >= res.Exp {
		return nil, time.Time{}, ErrExpired
	}
	if !audienceIncludes(res.Aud, in.Resource) {
		return nil, time.Time{}, ErrAudience
	}
	subject := res.Sub
	if subject == "" {
		subject = res.ClientID
	}
	tenant, ok := in.TenantMap[subject]
	if subject == "" || !ok || tenant == "" {
		return nil, time.Time{}, ErrUnmappedSubject
	}
	expires := now.Add(in.MaxCacheTTL)
	if res.Exp != 0 && time.Unix(res.Exp, 0).Before(expires) {
		expires = time.Unix(res.Exp, 0)
	}
	name := res.Username
	if name == "" {
		name = subject
	}
	return &identity.Identity{
		KeyID: subject, Name: name, Tenant: tenant, Kind: identity.KindIntrospected,
		Scopes: strings.Fields(res.Scope),
	}, expires, nil
}

// audienceIncludes reports whether aud (a string or an array of strings)
// names resource. A missing aud does not name it.
func audienceIncludes(aud json.RawMessage, resource string) bool {
	aud = bytes.TrimSpace(aud)
	if len(aud) == 0 {
		return false
	}
	var one string
	if err := json.Unmarshal(aud, &one); err == nil {
		return one == resource
	}
	var many []string
	if err := json.Unmarshal(aud, &many); err != nil {
		return false
	}
	for _, a := range many {
		if a == resource {
			return true
		}
	}
	return false
}

// Len returns the number of cached active results (for tests and metrics).
func (in *Introspector) Len() int {
	if in.active == nil {
		return 0
	}
	return in.active.len()
}
