package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// KeyAuthenticator verifies a virtual key secret and returns the identity it
// belongs to. The lead's key store implements it; an unknown, revoked or
// expired key is an error.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, secret string) (*identity.Identity, error)
}

// maxFormBytes bounds the token request body.
const maxFormBytes = 16 << 10

// AuthServer is Bulwark's minimal authorization server: RFC 8414 metadata
// and the client-credentials grant, where the client secret is a virtual key.
// It is immutable after construction and safe for concurrent use.
type AuthServer struct {
	issuer string
	signer *Signer
	keys   KeyAuthenticator
	audit  audit.Appender
	log    *slog.Logger
	guard  *failureGuard // nil without a Lockout
}

// AuthServerConfig configures NewAuthServer.
type AuthServerConfig struct {
	// Issuer is the public base URL of this server (e.g. "https://gw.example.com");
	// the token endpoint is Issuer + "/oauth/token".
	Issuer string
	// Signer issues the tokens; its Resource is the only audience accepted.
	Signer *Signer
	// Keys verifies the client secret (a virtual key).
	Keys KeyAuthenticator
	// Audit, when set, records every issuance and refusal.
	Audit audit.Appender
	// Logger receives private causes; slog.Default when nil.
	Logger *slog.Logger
	// Lockout, when set, counts refused token requests per client and
	// locks a client out after too many (429 with Retry-After). Valid
	// clients keep working while locked out. *auth.Lockout implements it.
	Lockout FailureLimiter
	// ClientKey names the client of a request for Lockout, e.g.
	// auth.LockoutKey(auth.ClientIP(r, trusted)). Required with Lockout.
	ClientKey func(*http.Request) string
	// Failures audits the refusals Lockout counts, those of a locked-out
	// client included, per client and minute with a count of the rest, so
	// a flood of bad secrets cannot flood the audit log and still shows
	// its size. *auth.Refusals implements it. Required with Lockout.
	Failures FailureAuditor
	// WellFormed reports whether a client secret has the shape of a
	// virtual key. While a client is locked out, only well-formed secrets
	// reach Keys (load shedding); nil checks every secret.
	WellFormed func(secret string) bool
}

// NewAuthServer validates cfg and returns an AuthServer.
func NewAuthServer(cfg AuthServerConfig) (*AuthServer, error) {
	if err := validateResource(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oauth: issuer: %w", err)
	}
	if cfg.Signer == nil || cfg.Keys == nil {
		return nil, errors.New("oauth: auth server needs a Signer and a KeyAuthenticator")
	}
	if (cfg.Lockout == nil) != (cfg.ClientKey == nil) || (cfg.Lockout == nil) != (cfg.Failures == nil) {
		return nil, errors.New("oauth: Lockout, ClientKey and Failures go together")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &AuthServer{issuer: strings.TrimSuffix(cfg.Issuer, "/"), signer: cfg.Signer, keys: cfg.Keys, audit: cfg.Audit, log: cfg.Logger}
	if cfg.Lockout != nil {
		s.guard = &failureGuard{limiter: cfg.Lockout, audit: cfg.Failures, clientKey: cfg.ClientKey, wellFormed: cfg.WellFormed}
	}
	return s, nil
}

// Metadata is the RFC 8414 authorization server metadata document.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
}

// Metadata returns the document served at /.well-known/oauth-authorization-server.
func (s *AuthServer) Metadata() Metadata {
	return Metadata{
		Issuer:                            s.issuer,
		TokenEndpoint:                     s.issuer + "/oauth/token",
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		ResponseTypesSupported:            []string{},
	}
}

// MetadataHandler serves the RFC 8414 document (mount at
// GET /.well-known/oauth-authorization-server).
func (s *AuthServer) MetadataHandler() http.Handler {
	return jsonDocument(s.Metadata())
}

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	status int
	code   string
	desc   string
}

func (e *tokenError) Error() string { return e.code + ": " + e.desc }

func tokenErr(status int, code, desc string) *tokenError {
	return &tokenError{status: status, code: code, desc: desc}
}

// TokenHandler serves POST /oauth/token (client-credentials grant).
func (s *AuthServer) TokenHandler() http.Handler {
	return http.HandlerFunc(s.serveToken)
}

func (s *AuthServer) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	client, locked := s.guard.check(r)
	id, resp, err := s.grant(r, w, locked)
	if err != nil {
		s.refuse(w, r, client, locked, id, err)
		return
	}
	if err := s.record(r.Context(), id, audit.OutcomeSuccess, "", nil); err != nil {
		// The issuance is not acknowledged unless it is audited.
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "the token could not be issued"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// refuse answers a failed token request. A refusal the client caused
// counts toward its lockout and is audited through the guard's
// FailureAuditor: at once when the lockout reports it first (the first of
// the client's window, the start of a lockout) or it is the first of its
// kind in the auditor's window, otherwise only counted into a later entry
// or a summary. While a client is locked out its refusals are not counted
// toward the lockout again, only in the audit (a flood stays a count).
// Server-side failures are logged and audited but never count against the
// client.
func (s *AuthServer) refuse(w http.ResponseWriter, r *http.Request, client string, locked bool, id *identity.Identity, err error) {
	var te *tokenError
	if !errors.Is(err, errLockedOut) && !errors.As(err, &te) {
		s.log.Error("oauth token endpoint", "err", err)
		te = tokenErr(http.StatusInternalServerError, "server_error", "the token could not be issued")
	}
	if errors.Is(err, errLockedOut) || (locked && te.status < http.StatusInternalServerError) {
		s.recordFailure(r.Context(), client, id, "temporarily_unavailable", true, false)
		writeLockedOut(w, s.guard.locked(client))
		return
	}
	var lockedFor time.Duration
	if s.guard != nil && te.status < http.StatusInternalServerError {
		var first bool
		first, lockedFor = s.guard.fail(client)
		s.recordFailure(r.Context(), client, id, te.code, lockedFor > 0, first)
	} else {
		_ = s.record(r.Context(), id, audit.OutcomeDenied, te.code, nil)
	}
	if lockedFor > 0 {
		writeLockedOut(w, lockedFor)
		return
	}
	if te.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
	}
	writeJSON(w, te.status, map[string]string{"error": te.code, "error_description": te.desc})
}

// grant runs the client-credentials grant. The identity is returned (when
// known) so refusals can be audited against it.
func (s *AuthServer) grant(r *http.Request, w http.ResponseWriter, locked bool) (*identity.Identity, map[string]any, error) {
	if r.Method != http.MethodPost {
		return nil, nil, tokenErr(http.StatusMethodNotAllowed, "invalid_request", "use POST")
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, nil, tokenErr(http.StatusBadRequest, "invalid_request", "content type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, nil, tokenErr(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	form := r.PostForm
	for _, k := range []string{"grant_type", "client_id", "client_secret", "resource", "scope"} {
		if len(form[k]) > 1 {
			return nil, nil, tokenErr(http.StatusBadRequest, "invalid_request", "parameter "+k+" repeated")
		}
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		return nil, nil, tokenErr(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
	}
	clientID, secret, err := clientCredentials(r, form)
	if err != nil {
		return nil, nil, err
	}
	if locked && !s.guard.mayTry(secret) {
		return nil, nil, errLockedOut
	}
	id, err := s.keys.Authenticate(r.Context(), secret)
	if errors.Is(err, ErrUnavailable) { // the key store failed, not the client
		return nil, nil, tokenErr(http.StatusServiceUnavailable, "temporarily_unavailable", "client authentication is temporarily unavailable")
	}
	if err != nil || id == nil {
		return nil, nil, tokenErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	if clientID != "" && clientID != id.KeyID {
		return id, nil, tokenErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	if res := form.Get("resource"); res != s.signer.Resource() {
		return id, nil, tokenErr(http.StatusBadRequest, "invalid_target", "resource must name this server's resource")
	}
	scopes, err := narrowScopes(id, form.Get("scope"))
	if err != nil {
		return id, nil, err
	}
	tok, exp, err := s.signer.Issue(id, scopes)
	if err != nil {
		return id, nil, err
	}
	return id, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.signer.TTL().Seconds()),
		"scope":        strings.Join(scopes, " "),
		"expires_at":   exp.Unix(),
	}, nil
}

// clientCredentials reads client_secret_basic or client_secret_post; using
// both at once is refused (RFC 6749 §2.3).
func clientCredentials(r *http.Request, form url.Values) (clientID, secret string, err error) {
	authz := r.Header.Get("Authorization")
	postSecret := form.Get("client_secret")
	switch {
	case authz != "" && postSecret != "":
		return "", "", tokenErr(http.StatusBadRequest, "invalid_request", "use one client authentication method")
	case authz != "":
		return basicCredentials(authz)
	case postSecret != "":
		return form.Get("client_id"), postSecret, nil
	default:
		return "", "", tokenErr(http.StatusUnauthorized, "invalid_client", "client authentication required")
	}
}

// basicCredentials decodes client_secret_basic: both parts are
// form-urlencoded before base64 (RFC 6749 §2.3.1).
func basicCredentials(authz string) (string, string, error) {
	bad := tokenErr(http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
	scheme, rest, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", bad
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", bad
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", bad
	}
	user, err1 := url.QueryUnescape(u)
	pass, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil || pass == "" {
		return "", "", bad
	}
	return user, pass, nil
}

// narrowScopes returns the requested scopes when every one is held by id, or
// all of id's scopes when none is requested. A scope may narrow, never widen.
func narrowScopes(id *identity.Identity, requested string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		return slices.Clone(id.Scopes), nil
	}
	var out []string
	for _, sc := range strings.Fields(requested) {
		if !id.HasScope(sc) {
			return nil, tokenErr(http.StatusBadRequest, "invalid_scope", "requested scope exceeds the key's scopes")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// record appends an audit event for a token request; the secret never
// appears, only the key's public id.
func (s *AuthServer) record(ctx context.Context, id *identity.Identity, outcome, reason string, details map[string]string) error {
	if s.audit == nil {
		return nil
	}
	if err := s.audit.Append(context.WithoutCancel(ctx), tokenEvent(id, outcome, reason, details)); err != nil {
		s.log.Error("oauth: audit append failed", "err", err)
		return fmt.Errorf("oauth: audit: %w", err)
	}
	return nil
}

// recordFailure audits a refusal that client caused through the guard's
// FailureAuditor (force: the lockout reported it first). The refusal is
// answered whether or not its entry could be written.
func (s *AuthServer) recordFailure(ctx context.Context, client string, id *identity.Identity, reason string, locked, force bool) {
	e := tokenEvent(id, audit.OutcomeDenied, reason, map[string]string{"client": client, "locked": strconv.FormatBool(locked)})
	if err := s.guard.audit.AppendFailure(context.WithoutCancel(ctx), client, e, force); err != nil {
		s.log.Error("oauth: audit append failed", "err", err)
	}
}

// tokenEvent is the audit event of a token request: the key's public id
// when the secret named one, "anonymous" otherwise; reason, when set, is
// the OAuth error code the client got.
func tokenEvent(id *identity.Identity, outcome, reason string, details map[string]string) audit.Event {
	e := audit.Event{Action: "oauth.token", Outcome: outcome, Actor: "anonymous", Details: details}
	if id != nil {
		e.Actor, e.Tenant, e.Target = id.KeyID, id.Tenant, id.KeyID
	}
	if reason != "" {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details["error"] = reason
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonDocument serves a fixed public JSON document on GET/HEAD.
func jsonDocument(v any) http.Handler {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("oauth: metadata does not encode: %v", err)) // static types; cannot happen
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}
