package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// TokenVerifier verifies access tokens issued by Bulwark's own token
// endpoint (*oauth.Signer implements it).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*identity.Identity, error)
}

// Introspector authenticates external tokens by RFC 7662 introspection
// (*oauth.Introspector implements it).
type Introspector interface {
	Authenticate(ctx context.Context, token string) (*identity.Identity, error)
}

// errNoCredentials: the request carried no bearer token at all.
var errNoCredentials = errors.New("no bearer token")

// errBadCredentials: a credential was presented and did not verify.
var errBadCredentials = errors.New("invalid credentials")

// maxBearerLen bounds a bearer credential.
const maxBearerLen = 8 << 10

// parseBearer extracts the credential from exactly one
// "Authorization: Bearer <token68>" header (RFC 6750 §2.1). Tokens in query
// strings or bodies are not accepted: they end up in logs.
func parseBearer(values []string) (string, error) {
	if len(values) == 0 {
		return "", errNoCredentials
	}
	if len(values) > 1 {
		return "", errBadCredentials
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxBearerLen {
		return "", errBadCredentials
	}
	for i := 0; i < len(tok); i++ {
		if !isToken68Char(tok[i]) {
			return "", errBadCredentials
		}
	}
	return tok, nil
}

// isToken68Char reports RFC 9110 token68 characters ("=" allowed only as
// trailing padding, which is checked loosely: it cannot separate anything).
func isToken68Char(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/=", c) >= 0
}

// authenticator routes a bearer credential to the one verifier that owns
// its format, so a Bulwark key or token is never sent to an external
// introspection endpoint. It is immutable and safe for concurrent use.
type authenticator struct {
	keys       oauth.KeyAuthenticator
	tokens     TokenVerifier
	introspect Introspector
	keyPrefix  string
	lockout    *Lockout // nil: failures are not counted
}

func (a *authenticator) authenticate(ctx context.Context, bearer string) (*identity.Identity, error) {
	var (
		id  *identity.Identity
		err error
	)
	switch {
	case strings.HasPrefix(bearer, oauth.TokenPrefix):
		if a.tokens == nil {
			return nil, errBadCredentials
		}
		id, err = a.tokens.Verify(ctx, bearer)
	case a.keyPrefix == "" || strings.HasPrefix(bearer, a.keyPrefix):
		if a.keys == nil {
			return nil, errBadCredentials
		}
		id, err = a.keys.Authenticate(ctx, bearer)
		if err != nil && !errors.Is(err, oauth.ErrUnavailable) {
			err = errBadCredentials // the key store's reason stays private
		}
	case a.introspect != nil:
		id, err = a.introspect.Authenticate(ctx, bearer)
	default:
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if id == nil || id.KeyID == "" || id.Tenant == "" {
		return nil, errBadCredentials // an identity without owner cannot be limited or audited
	}
	return id, nil
}

// publicAuthError is what a client is told about a failed authentication.
func publicAuthError(err error) string {
	for _, known := range []error{oauth.ErrExpired, oauth.ErrAudience, oauth.ErrKeyInactive, oauth.ErrInactive, oauth.ErrUnmappedSubject} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return "the bearer token is invalid"
}

// writeAuthError renders a 401/403/503 with an RFC 6750 body.
func writeAuthError(w http.ResponseWriter, status int, challenge, code, desc string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// authenticateRequest verifies the caller or writes the refusal. It returns
// nil when the response has been written.
func (h *Handler) authenticateRequest(w http.ResponseWriter, r *http.Request) *identity.Identity {
	bearer, err := parseBearer(r.Header.Values("Authorization"))
	lo := h.auth.lockout
	client, retry := lo.check(r)
	if retry > 0 && !lo.mayTry(bearer, err) {
		h.auditFailure(r, client, "locked_out", true, false) // counted; an entry only as the first of its minute
		h.writeLockedOut(w, retry)
		return nil
	}
	if errors.Is(err, errNoCredentials) {
		// Not counted: an MCP client's first request carries no token by
		// design (RFC 9728 discovery starts from this 401).
		writeAuthError(w, http.StatusUnauthorized, oauth.BearerChallenge("resource_metadata", h.metadataURL), "unauthorized", "a bearer token is required")
		return nil
	}
	var id *identity.Identity
	if err == nil {
		id, err = h.auth.authenticate(r.Context(), bearer)
	}
	if err == nil {
		return id
	}
	if errors.Is(err, oauth.ErrUnavailable) { // the verifier failed, not the client: never counted
		h.log.Error("mcp: authentication unavailable", "err", err, "request_id", reqid.FromContext(r.Context()))
		writeAuthError(w, http.StatusServiceUnavailable, "", "temporarily_unavailable", "authentication is temporarily unavailable")
		return nil
	}
	if lockedFor := h.countFailure(r, client, err); lockedFor > 0 {
		h.writeLockedOut(w, lockedFor)
		return nil
	}
	desc := publicAuthError(err)
	writeAuthError(w, http.StatusUnauthorized,
		oauth.BearerChallenge("error", "invalid_token", "error_description", desc, "resource_metadata", h.metadataURL),
		"invalid_token", desc)
	return nil
}

// gate refuses, with 403 insufficient_scope naming the missing scope, a
// caller that holds no tool scope at all or that calls a tool whose scope it
// lacks. It is a courtesy for clients that can step up their authorisation;
// the authority check that counts runs again inside the tool call, on the
// registry entry actually invoked. It returns false when the response has
// been written.
func (h *Handler) gate(w http.ResponseWriter, r *http.Request, id *identity.Identity) bool {
	if !hasAnyToolScope(id) {
		h.refuseScope(w, r, id, "", strings.Join(h.reg.scopes(), " "), "")
		return false
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	_ = r.Body.Close() // read in full (or refused); the server closes it anyway
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	for _, c := range toolCalls(body) {
		t, ok := h.reg.lookup(c.Params.Name)
		if ok && errors.Is(authorize(id, t), ErrInsufficientScope) {
			h.refuseScope(w, r, id, t.Name, t.Scope, t.summary(c.Params.Arguments))
			return false
		}
	}
	return true
}

// refuseScope audits (through Deps.Refusals) and answers a scope denial.
// args, when the denied request was a tools/call, is its argument summary
// (secrets redacted) so a reviewer sees what the key tried to run.
func (h *Handler) refuseScope(w http.ResponseWriter, r *http.Request, id *identity.Identity, tool, scope, args string) {
	ev := audit.Event{
		Tenant: id.Tenant, Actor: id.KeyID, Action: "tool.call", Target: tool,
		Outcome: audit.OutcomeDenied, RequestID: reqid.FromContext(r.Context()),
		Details: map[string]string{"reason": "insufficient_scope", "required_scope": scope, "kind": string(id.Kind)},
	}
	if tool != "" {
		ev.Details["args"] = args
	}
	if err := h.refusals.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		h.log.Error("mcp: audit append failed", "err", err)
	}
	if scope == "" { // no tool is registered: no scope would help
		writeAuthError(w, http.StatusForbidden,
			oauth.BearerChallenge("error", "insufficient_scope", "resource_metadata", h.metadataURL),
			"insufficient_scope", "this server offers no tools")
		return
	}
	writeAuthError(w, http.StatusForbidden,
		oauth.BearerChallenge("error", "insufficient_scope", "scope", scope, "resource_metadata", h.metadataURL),
		"insufficient_scope", "this key lacks the scope "+scope)
}

// toolCall is the part of a JSON-RPC tools/call request the gate reads.
type toolCall struct {
	Method string `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"params"`
}

// toolCalls returns the tools/call requests of a JSON-RPC message or
// batch. Anything unparsable yields nothing: the SDK answers malformed
// input itself.
func toolCalls(body []byte) []toolCall {
	var msgs []toolCall
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &msgs) != nil {
			return nil
		}
	} else {
		var one toolCall
		if json.Unmarshal(body, &one) != nil {
			return nil
		}
		msgs = []toolCall{one}
	}
	calls := msgs[:0]
	for _, m := range msgs {
		if m.Method == "tools/call" {
			calls = append(calls, m)
		}
	}
	return calls
}

// Lockout makes failed /mcp authentications count against the per-client
// lockout the LLM API and the token endpoint share, so /mcp cannot be used
// to guess credentials faster than they can. It behaves as the API does:
// every presented credential that fails counts (a request with no bearer,
// the start of RFC 9728 discovery, does not); past the allowance the client
// gets 429 with Retry-After; while locked out, only a bearer shaped like a
// virtual key is still verified (a valid key keeps working, so a shared
// address cannot lock honest callers out) and anything else is refused
// without reaching a key store, a signature check or an introspection
// endpoint. The failures, a locked-out client's refused requests included,
// are audited (auth.failure) through Failures: the first failure of a
// client's window and the start of each lockout at once, the flood as a
// count (details.repeats) in a later entry or a summary.
type Lockout struct {
	// Limiter counts failures per client (*auth.Lockout); required.
	Limiter oauth.FailureLimiter
	// Failures audits them per client and minute (*auth.Refusals);
	// required.
	Failures oauth.FailureAuditor
	// ClientKey names the client of a request, from the verified peer
	// address (auth.LockoutKey(auth.ClientIP(r, trusted))), never from an
	// unverified header; required.
	ClientKey func(*http.Request) string
	// WellFormed reports whether a bearer is shaped like a virtual key
	// (auth.ParseKey succeeds); required.
	WellFormed func(string) bool
}

// WithLockout returns a copy of h whose failed authentications count
// against l. h itself is unchanged; mount the returned handler.
func (h *Handler) WithLockout(l Lockout) (*Handler, error) {
	if l.Limiter == nil || l.Failures == nil || l.ClientKey == nil || l.WellFormed == nil {
		return nil, errors.New("mcp: Lockout needs Limiter, Failures, ClientKey and WellFormed")
	}
	a := *h.auth
	a.lockout = &l
	c := *h
	c.auth = &a
	return &c, nil
}

// check names the client of r and returns how long it stays locked out
// (0 when it is not, or when no lockout is configured).
func (l *Lockout) check(r *http.Request) (client string, retry time.Duration) {
	if l == nil {
		return "", 0
	}
	client = l.ClientKey(r)
	if locked, d := l.Limiter.Locked(client); locked {
		return client, max(d, time.Second)
	}
	return client, 0
}

// mayTry reports whether a locked-out client's bearer is still verified:
// only a well-formed virtual key is (the API's rule).
func (l *Lockout) mayTry(bearer string, parseErr error) bool {
	return parseErr == nil && l.WellFormed(bearer)
}

// countFailure records a failed authentication of client and audits it
// (at once when it is the first of its window or starts a lockout). It
// returns how long the client is now locked out (0 when it is not, or
// without a lockout).
func (h *Handler) countFailure(r *http.Request, client string, cause error) time.Duration {
	l := h.auth.lockout
	if l == nil {
		return 0
	}
	first, locked, retry := l.Limiter.Fail(client)
	h.auditFailure(r, client, failureReason(cause), locked, first)
	if !locked {
		return 0
	}
	return max(retry, time.Second)
}

// auditFailure records a failed authentication of client (never the
// credential) with the lockout's Failures; force when the limiter reported
// it first.
func (h *Handler) auditFailure(r *http.Request, client, reason string, locked, force bool) {
	ev := audit.Event{Tenant: "default", Actor: "client:" + client, Action: "auth.failure", Target: r.URL.Path,
		Outcome: audit.OutcomeDenied, RequestID: reqid.FromContext(r.Context()),
		Details: map[string]string{"reason": reason, "locked": strconv.FormatBool(locked)}}
	if err := h.auth.lockout.Failures.AppendFailure(context.WithoutCancel(r.Context()), client, ev, force); err != nil {
		h.log.Error("mcp: audit of an authentication failure failed", "err", err, "request_id", ev.RequestID)
	}
}

// failureReason names why a credential failed, for the audit log (never
// the credential itself).
func failureReason(err error) string {
	switch {
	case errors.Is(err, oauth.ErrExpired):
		return "expired"
	case errors.Is(err, oauth.ErrAudience):
		return "audience"
	case errors.Is(err, oauth.ErrKeyInactive):
		return "key_inactive"
	case errors.Is(err, oauth.ErrInactive):
		return "inactive"
	case errors.Is(err, oauth.ErrUnmappedSubject):
		return "unmapped_subject"
	}
	return "rejected"
}

// writeLockedOut answers a locked-out client: 429, Retry-After in whole
// seconds (rounded up), and the resource-metadata challenge every /mcp
// refusal carries.
func (h *Handler) writeLockedOut(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	writeAuthError(w, http.StatusTooManyRequests, oauth.BearerChallenge("resource_metadata", h.metadataURL),
		"temporarily_unavailable", "too many failed authentication attempts from this client; retry later")
}
