package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

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
	if errors.Is(err, errNoCredentials) {
		writeAuthError(w, http.StatusUnauthorized, oauth.BearerChallenge("resource_metadata", h.metadataURL), "unauthorized", "a bearer token is required")
		return nil
	}
	var id *identity.Identity
	if err == nil {
		id, err = h.auth.authenticate(r.Context(), bearer)
	}
	if err != nil {
		if errors.Is(err, oauth.ErrUnavailable) {
			h.log.Error("mcp: authentication unavailable", "err", err, "request_id", reqid.FromContext(r.Context()))
			writeAuthError(w, http.StatusServiceUnavailable, "", "temporarily_unavailable", "authentication is temporarily unavailable")
			return nil
		}
		desc := publicAuthError(err)
		writeAuthError(w, http.StatusUnauthorized,
			oauth.BearerChallenge("error", "invalid_token", "error_description", desc, "resource_metadata", h.metadataURL),
			"invalid_token", desc)
		return nil
	}
	return id
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

// refuseScope audits and answers a scope denial. args, when the denied
// request was a tools/call, is its argument summary (secrets redacted) so
// a reviewer sees what the key tried to run.
func (h *Handler) refuseScope(w http.ResponseWriter, r *http.Request, id *identity.Identity, tool, scope, args string) {
	ev := audit.Event{
		Tenant: id.Tenant, Actor: id.KeyID, Action: "tool.call", Target: tool,
		Outcome: audit.OutcomeDenied, RequestID: reqid.FromContext(r.Context()),
		Details: map[string]string{"reason": "insufficient_scope", "required_scope": scope, "kind": string(id.Kind)},
	}
	if tool != "" {
		ev.Details["args"] = args
	}
	if err := h.audit.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		h.log.Error("mcp: audit append failed", "err", err)
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
