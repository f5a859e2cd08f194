// Package identity holds the verified caller identity that every stage of a
// request keys on: rate limits, budgets, authorisation and audit. An Identity
// is only ever built by an authenticator after verification; nothing derived
// from an unverified header may construct one.
package identity

import (
	"context"
	"slices"
	"strings"
)

// Kind says how an identity was established.
type Kind string

// Kinds of verified identity.
const (
	KindVirtualKey   Kind = "key"          // a Bulwark virtual key
	KindAccessToken  Kind = "token"        // a short-lived token issued by Bulwark's token endpoint
	KindIntrospected Kind = "introspected" // an external token verified by RFC 7662 introspection
	KindAdmin        Kind = "admin"        // an operator acting through the CLI
)

// Identity is a verified caller. It is immutable once built and safe for
// concurrent use.
type Identity struct {
	// KeyID is the public id of the key or token (never a secret). It is what
	// logs, audit entries and limits name.
	KeyID string
	// Name is the human label of the key, for display only.
	Name string
	// Tenant the caller acts for.
	Tenant string
	// Kind says how the identity was verified.
	Kind Kind
	// Scopes granted (for example "llm", "admin", "tools:fs.read").
	Scopes []string
	// Models the caller may use; empty means every model of the tenant.
	Models []string
	// Tools restricts which MCP tools may be called; empty means every tool
	// the scopes allow.
	Tools []string
	// NoLog asks that only usage (never bodies) is stored for this caller.
	NoLog bool
}

// HasScope reports whether the identity holds scope s. "admin:global"
// implies "admin"; "tools:*" implies every "tools:<name>".
func (id *Identity) HasScope(s string) bool {
	if id == nil {
		return false
	}
	for _, have := range id.Scopes {
		switch {
		case have == s:
			return true
		case have == "admin:global" && s == "admin":
			return true
		case have == "tools:*" && strings.HasPrefix(s, "tools:"):
			return true
		}
	}
	return false
}

// AllowsModel reports whether the identity may call model (as the client
// named it, e.g. "openai/gpt-4o-mini" or an alias).
func (id *Identity) AllowsModel(model string) bool {
	if id == nil {
		return false
	}
	return len(id.Models) == 0 || slices.Contains(id.Models, model)
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the verified identity in ctx, or nil when the request
// was not authenticated.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}
