package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// Authenticator verifies a bearer credential.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (*identity.Identity, error)
}

// Middleware authenticates every request it wraps and fails closed: no
// verified identity, no call to next.
type Middleware struct {
	Keys    Authenticator
	Others  []Authenticator // tried in order for credentials that are not virtual keys
	Lockout *Lockout
	Trusted []netip.Prefix
	// Refusals audits the failures (auth.failure), counted per client and
	// minute (AppendFailure); nil audits none. Whoever serves runs it.
	Refusals *Refusals
	Log      *slog.Logger
	Failures func(reason string) // metrics hook; may be nil
}

// queryCredentialNames are query parameters that carry credentials in
// other APIs; Bulwark refuses them so keys never land in access logs.
var queryCredentialNames = []string{"key", "api_key", "api-key", "apikey", "access_token", "token", "x-api-key"}

// Credential extracts the presented credential from the headers Bulwark
// accepts: Authorization: Bearer, x-api-key, api-key, x-goog-api-key.
func Credential(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		scheme, tok, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	for _, h := range []string{"x-api-key", "api-key", "x-goog-api-key"} {
		if v := r.Header.Get(h); v != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CredentialInQuery reports whether the URL carries a credential.
func CredentialInQuery(r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return false // most calls: no query to parse (Query allocates a map)
	}
	q := r.URL.Query()
	for _, n := range queryCredentialNames {
		if q.Has(n) {
			return true
		}
	}
	return strings.Contains(r.URL.RawQuery, KeyPrefix)
}

// DialectOf picks the error shape of a request: its route's, except that
// GET /v1/models answers in the Anthropic shape when the caller sent
// anthropic-version (Anthropic's SDKs always do; their errors then need
// the Anthropic body and request-id header, a refused key included).
func DialectOf(r *http.Request) apierr.Dialect {
	if r.URL.Path == "/v1/models" && r.Header.Get("Anthropic-Version") != "" {
		return apierr.Anthropic
	}
	return DialectFor(r.URL.Path)
}

// DialectFor picks the error shape of a route.
func DialectFor(path string) apierr.Dialect {
	switch {
	case strings.HasPrefix(path, "/v1/messages"):
		return apierr.Anthropic
	case strings.HasPrefix(path, "/v1beta/"):
		return apierr.Gemini
	}
	return apierr.OpenAI
}

// Wrap returns next behind authentication.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := DialectOf(r)
		if CredentialInQuery(r) {
			apierr.Write(w, r, d, apierr.BadRequest("credential_in_query",
				"credentials in the query string are refused; send the key in the Authorization header"), m.Log)
			return
		}
		cred := Credential(r)
		client := ClientIP(r, m.Trusted)
		if locked, retry := m.Lockout.Locked(LockoutKey(client)); locked {
			// Shed load: only a well-formed virtual key is still checked
			// (valid keys keep working); nothing else reaches a store or an
			// introspection endpoint while the client is locked out.
			if _, err := ParseKey(cred); err != nil {
				m.auditFailure(r, client, "locked_out", true, false) // counted; an entry only as the first of its minute
				apierr.Write(w, r, d, apierr.RateLimited("auth_locked_out",
					"too many failed authentication attempts; retry later", retry), m.Log)
				return
			}
		}
		id, err := m.authenticate(r.Context(), cred)
		if err != nil {
			m.fail(w, r, d, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
	})
}

// ErrNoCredential is returned when the request carries no credential.
var ErrNoCredential = errors.New("no credential")

func (m *Middleware) authenticate(ctx context.Context, cred string) (*identity.Identity, error) {
	if cred == "" {
		return nil, ErrNoCredential
	}
	if LooksLikeKey(cred) || len(m.Others) == 0 {
		return m.Keys.Authenticate(ctx, cred)
	}
	var last error
	for _, a := range m.Others {
		id, err := a.Authenticate(ctx, cred)
		if err == nil {
			return id, nil
		}
		last = err
	}
	return nil, last
}

func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, d apierr.Dialect, cause error) {
	client := ClientIP(r, m.Trusted)
	reason := failureReason(cause)
	if m.Failures != nil {
		m.Failures(reason)
	}
	if !isAuthFailure(cause) { // the store failed: a 500, not the client's fault
		apierr.Write(w, r, d, apierr.Internal(cause), m.Log)
		return
	}
	first, locked, retry := m.Lockout.Fail(LockoutKey(client))
	m.auditFailure(r, client, reason, locked, first)
	if locked {
		apierr.Write(w, r, d, apierr.RateLimited("auth_locked_out",
			"too many failed authentication attempts; retry later", retry).WithCause(cause), m.Log)
		return
	}
	e := apierr.Unauthorized("invalid or missing API key").WithCause(cause)
	apierr.Write(w, r, d, e, m.Log)
}

// auditFailure records a failed authentication of client (its address, never
// the credential) with Refusals: force when the lockout reported it first
// (the first failure of the client's window, the start of a lockout).
func (m *Middleware) auditFailure(r *http.Request, client, reason string, locked, force bool) {
	if m.Refusals == nil {
		return
	}
	rid := reqid.FromContext(r.Context())
	err := m.Refusals.AppendFailure(r.Context(), LockoutKey(client), audit.Event{Tenant: "default", Actor: "client:" + client,
		Action: "auth.failure", Target: truncate(r.URL.Path, 128), Outcome: audit.OutcomeDenied, RequestID: rid,
		Details: map[string]string{"reason": reason, "locked": boolString(locked)}}, force)
	if err != nil && m.Log != nil {
		m.Log.Error("audit of an authentication failure failed", "err", err, "request_id", rid)
	}
}

func isAuthFailure(err error) bool {
	for _, e := range []error{ErrNoCredential, ErrMalformedKey, ErrChecksum, ErrUnknownKey, ErrRevokedKey, ErrExpiredKey, ErrUnauthorized} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ErrUnauthorized is what other authenticators return for a token they
// reject.
var ErrUnauthorized = errors.New("unauthorized")

func failureReason(err error) string {
	switch {
	case errors.Is(err, ErrNoCredential):
		return "missing"
	case errors.Is(err, ErrMalformedKey):
		return "malformed"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrUnknownKey):
		return "unknown"
	case errors.Is(err, ErrRevokedKey):
		return "revoked"
	case errors.Is(err, ErrExpiredKey):
		return "expired"
	case errors.Is(err, ErrUnauthorized):
		return "rejected"
	}
	return "error"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
