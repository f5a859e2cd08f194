package mcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/oauth"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// Protocol versions served by default. 2026-07-28 is sessionless (SEP-2575):
// the SDK serves it only from a stateless handler, so requests announcing it
// are routed to one; older versions keep identity-bound sessions.
const (
	Version20250618 = "2025-06-18"
	Version20251125 = "2025-11-25"
	Version20260728 = "2026-07-28"
)

// DefaultProtocolVersions are the versions served when Config leaves them empty.
var DefaultProtocolVersions = []string{Version20260728, Version20251125, Version20250618}

// Config is the static configuration of the MCP endpoint.
type Config struct {
	// BaseURL is the public base URL of the gateway ("https://gw.example.com").
	BaseURL string
	// Path is where the handler is mounted; "/mcp" when empty. The resource
	// identifier (RFC 8707) is BaseURL + Path.
	Path string
	// AuthorizationServers listed in the RFC 9728 metadata; BaseURL when empty
	// (Bulwark's own token endpoint).
	AuthorizationServers []string
	// AllowedOrigins are the browser origins allowed to call /mcp
	// ("https://app.example.com"). Requests without Origin are allowed.
	AllowedOrigins []string
	// KeyPrefix starts every virtual key (e.g. "sk-bw-"). Required when an
	// Introspector is configured, so keys are never sent to a third party;
	// when empty, every bearer that is not a Bulwark access token is a key.
	KeyPrefix string
	// ProtocolVersions narrows the versions served; DefaultProtocolVersions when empty.
	ProtocolVersions []string
	// SessionTimeout closes idle sessions; 30 minutes when zero.
	SessionTimeout time.Duration
	// MaxBodyBytes bounds one request body; 4 MiB when zero.
	MaxBodyBytes int64
	// ServerVersion is reported to clients.
	ServerVersion string
}

// Deps are the collaborators of the handler.
type Deps struct {
	// Keys verifies virtual keys (required).
	Keys oauth.KeyAuthenticator
	// Tokens verifies Bulwark access tokens (*oauth.Signer); optional.
	Tokens TokenVerifier
	// Introspector verifies external tokens (*oauth.Introspector); optional.
	Introspector Introspector
	// Audit receives one event per tool call (required).
	Audit audit.Appender
	// Refusals receives the refusals: scope denials at the door and tool
	// calls refused before they ran (scope, unknown tool, rate limit). An
	// aggregator such as *auth.Refusals, so that repeating a refused call
	// costs no durable write per request. Nil means Audit (one entry per
	// refusal).
	Refusals audit.Appender
	// Limiter limits calls per tool and key; 60 per minute in memory when nil.
	Limiter Limiter
	// ToolLimiters replace Limiter for the tools they name (tool name →
	// limiter; still counted per tool and key). Names of tools that are
	// not registered are ignored: the tool may simply be disabled.
	ToolLimiters map[string]Limiter
	// Tools is the registry: every enabled tool (see Builtin for the standard ones).
	Tools []Tool
	// Logger receives private causes; slog.Default when nil.
	Logger *slog.Logger
}

// Handler serves /mcp. It is safe for concurrent use.
type Handler struct {
	reg         *registry
	auth        *authenticator
	origins     *originPolicy
	audit       audit.Appender
	refusals    audit.Appender
	limiter     Limiter
	perTool     map[string]Limiter
	log         *slog.Logger
	resource    string
	metadataURL string
	authServers []string
	maxBody     int64
	stateful    http.Handler
	stateless   http.Handler
}

var _ http.Handler = (*Handler)(nil)

// NewHandler validates cfg and deps and builds the MCP endpoint.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if deps.Keys == nil || deps.Audit == nil {
		return nil, errors.New("mcp: Keys and Audit are required")
	}
	if deps.Introspector != nil && cfg.KeyPrefix == "" {
		return nil, errors.New("mcp: KeyPrefix is required with an Introspector, so virtual keys are never sent to it")
	}
	reg, err := newRegistry(deps.Tools)
	if err != nil {
		return nil, err
	}
	origins, err := newOriginPolicy(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Limiter == nil {
		deps.Limiter, _ = NewMemoryLimiter(60, time.Minute)
	}
	for name, l := range deps.ToolLimiters {
		if l == nil {
			return nil, fmt.Errorf("mcp: nil limiter for tool %s", name)
		}
	}
	if deps.Refusals == nil {
		deps.Refusals = deps.Audit
	}
	h := &Handler{
		reg: reg, origins: origins, audit: deps.Audit, refusals: deps.Refusals, limiter: deps.Limiter, perTool: map[string]Limiter{}, log: deps.Logger,
		auth:        &authenticator{keys: deps.Keys, tokens: deps.Tokens, introspect: deps.Introspector, keyPrefix: cfg.KeyPrefix},
		resource:    cfg.BaseURL + cfg.Path,
		metadataURL: oauth.ResourceMetadataURL(cfg.BaseURL),
		authServers: cfg.AuthorizationServers,
		maxBody:     cfg.MaxBodyBytes,
	}
	for name, l := range deps.ToolLimiters {
		h.perTool[name] = l
	}
	// The SDK logs every (ephemeral) session at INFO; keep only its warnings.
	sdkLog := slog.New(minLevel{Handler: h.log.Handler(), min: slog.LevelWarn})
	server := h.newServer(cfg, sdkLog)
	get := func(*http.Request) *sdk.Server { return server }
	h.stateful = sdk.NewStreamableHTTPHandler(get, &sdk.StreamableHTTPOptions{
		SessionTimeout: cfg.SessionTimeout, MaxRequestBodyBytes: cfg.MaxBodyBytes, Logger: sdkLog,
	})
	h.stateless = sdk.NewStreamableHTTPHandler(get, &sdk.StreamableHTTPOptions{
		Stateless: true, MaxRequestBodyBytes: cfg.MaxBodyBytes, Logger: sdkLog,
	})
	return h, nil
}

func (c *Config) defaults() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
		return errors.New("mcp: BaseURL must be an absolute http(s) URL without path, userinfo or query")
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.Path == "" {
		c.Path = "/mcp"
	}
	if !strings.HasPrefix(c.Path, "/") {
		return errors.New("mcp: Path must start with /")
	}
	if len(c.AuthorizationServers) == 0 {
		c.AuthorizationServers = []string{c.BaseURL}
	}
	if len(c.ProtocolVersions) == 0 {
		c.ProtocolVersions = DefaultProtocolVersions
	}
	for _, v := range c.ProtocolVersions {
		if !slices.Contains(sdk.SupportedProtocolVersions(), v) {
			return fmt.Errorf("mcp: protocol version %q is not supported by the SDK", v)
		}
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.SessionTimeout < 0 || c.MaxBodyBytes < 0 {
		return errors.New("mcp: SessionTimeout and MaxBodyBytes must not be negative")
	}
	if c.ServerVersion == "" {
		c.ServerVersion = "dev"
	}
	return nil
}

// Resource returns the resource identifier tokens must be issued for.
func (h *Handler) Resource() string { return h.resource }

// ProtectedResourceMetadata serves the RFC 9728 document; mount it at
// GET /.well-known/oauth-protected-resource.
func (h *Handler) ProtectedResourceMetadata() http.Handler {
	return oauth.ResourceMetadataHandler(oauth.ResourceMetadata{
		Resource:             h.resource,
		AuthorizationServers: h.authServers,
		ScopesSupported:      h.reg.scopes(),
		ResourceName:         "Bulwark MCP tools",
	})
}

// MetadataPaths are where ProtectedResourceMetadata should be mounted: the
// root form named in WWW-Authenticate, and the RFC 9728 §3.1 form with the
// resource path appended, which some clients probe first.
func (h *Handler) MetadataPaths() []string {
	u, _ := url.Parse(h.resource) // validated in NewHandler
	return []string{oauth.ProtectedResourceMetadataPath, oauth.ProtectedResourceMetadataPath + u.Path}
}

// ServeHTTP checks the Origin, authenticates the caller, applies the scope
// gate, then hands the request to the SDK with the verified identity bound
// to the session.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.origins.allow(r.Header.Values("Origin")) {
		writeAuthError(w, http.StatusForbidden, "", "forbidden_origin", "this Origin may not call the MCP endpoint")
		return
	}
	if reqid.FromContext(r.Context()) == "" {
		r = r.WithContext(reqid.NewContext(r.Context(), reqid.New()))
	}
	id := h.authenticateRequest(w, r)
	if id == nil {
		return
	}
	if !h.gate(w, r, id) {
		return
	}
	r = r.WithContext(identity.NewContext(r.Context(), id))
	next := h.stateful
	if r.Header.Get("Mcp-Protocol-Version") >= Version20260728 {
		next = h.stateless
	}
	bindIdentity(next).ServeHTTP(w, r)
}

// Keys of the values carried to tool handlers in auth.TokenInfo.Extra.
const (
	extraIdentity  = "bulwark.identity"
	extraRequestID = "bulwark.request_id"
)

// bindIdentity hands the verified identity to the SDK as auth.TokenInfo:
// the SDK binds a session to TokenInfo.UserID at creation and refuses the
// session id from any other user, and passes TokenInfo to every handler.
func bindIdentity(next http.Handler) http.Handler {
	verify := func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		id := identity.FromContext(r.Context())
		if id == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{
			Scopes: id.Scopes,
			UserID: sessionOwner(id),
			Extra:  map[string]any{extraIdentity: id, extraRequestID: reqid.FromContext(r.Context())},
		}, nil
	}
	return auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
}

// sessionOwner names who a session belongs to: how the caller was verified,
// its tenant and its public id (so an external subject can never collide
// with a key id).
func sessionOwner(id *identity.Identity) string {
	return string(id.Kind) + "\x00" + id.Tenant + "\x00" + id.KeyID
}

// callerOf returns the verified identity and request id of an SDK request.
func callerOf(req sdk.Request) (*identity.Identity, string) {
	extra := req.GetExtra()
	if extra == nil || extra.TokenInfo == nil {
		return nil, ""
	}
	id, _ := extra.TokenInfo.Extra[extraIdentity].(*identity.Identity)
	rid, _ := extra.TokenInfo.Extra[extraRequestID].(string)
	return id, rid
}

// minLevel drops records below min before they reach Handler.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(a), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}
