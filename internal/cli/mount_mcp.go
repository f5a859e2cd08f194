package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/mcp"
	"github.com/bulwarkhq/bulwark/internal/oauth"
	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/server"
	"github.com/bulwarkhq/bulwark/internal/tools/exectool"
	"github.com/bulwarkhq/bulwark/internal/tools/fetch"
	"github.com/bulwarkhq/bulwark/internal/tools/gittool"
	"github.com/bulwarkhq/bulwark/internal/tools/sqlq"
)

// keyAuth adapts the key manager to the OAuth/MCP interfaces: a store
// failure is "unavailable" (503), anything else a refusal (401).
type keyAuth struct{ in *instance.Instance }

func (k keyAuth) Authenticate(ctx context.Context, secret string) (*identity.Identity, error) {
	id, err := k.in.Keys.Authenticate(ctx, secret)
	if err != nil && !isKeyRefusal(err) {
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return id, err
}

func (k keyAuth) Active(ctx context.Context, keyID string) (bool, error) {
	rec, err := k.in.Keys.Record(ctx, keyID)
	if errors.Is(err, auth.ErrUnknownKey) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rec.Active(time.Now()), nil
}

func isKeyRefusal(err error) bool {
	for _, e := range []error{auth.ErrMalformedKey, auth.ErrChecksum, auth.ErrUnknownKey, auth.ErrRevokedKey, auth.ErrExpiredKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// baseURL is the public URL of this gateway, for OAuth metadata and the
// MCP resource identifier.
func baseURL(cfg *config.Config) string {
	if cfg.Tools.BaseURL != "" {
		return cfg.Tools.BaseURL
	}
	if cfg.TLS.Enabled() {
		return "https://" + cfg.Listen
	}
	return "http://" + cfg.Listen
}

// mountMCP serves /mcp, the OAuth metadata and the token endpoint. shared
// is the rate limiter replicas share (the routing gate's, on Redis), or nil
// with the memory backend: tool limits then stay in this process. It
// returns a closer for the tools (git's proxy, SQL connections). Refusals
// before a tool runs are audited through refusals.
func mountMCP(in *instance.Instance, srv *server.Server, shared limit.RateLimiter, refusals *auth.Refusals) (func(), error) {
	base := baseURL(in.Cfg)
	keys := keyAuth{in}
	signer, err := oauth.NewSigner(oauth.SignerConfig{Key: in.TokenKey, Resource: base + "/mcp", TTL: in.Cfg.Tools.OAuth.TokenTTL, Status: keys})
	if err != nil {
		return nil, err
	}
	// The token endpoint shares the API's per-client lockout: failures
	// anywhere count together, and a locked-out client is refused here too.
	// So does /mcp (below): a failed bearer there counts with the rest.
	// All three audit their failures through refusals, per client, action
	// and minute.
	lockout, trusted := srv.Auth.Lockout, srv.Auth.Trusted
	clientKey := func(r *http.Request) string { return auth.LockoutKey(auth.ClientIP(r, trusted)) }
	wellFormed := func(secret string) bool { _, err := auth.ParseKey(secret); return err == nil }
	as, err := oauth.NewAuthServer(oauth.AuthServerConfig{Issuer: base, Signer: signer, Keys: keys, Audit: in.Audit, Logger: in.Log,
		Lockout: lockout, ClientKey: clientKey, Failures: refusals, WellFormed: wellFormed})
	if err != nil {
		return nil, err
	}
	bc, err := builtinConfig(in.Cfg.Tools)
	if err != nil {
		return nil, err
	}
	b, err := mcp.NewBuiltins(bc)
	if err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	deps := mcp.Deps{Keys: keys, Tokens: signer, Audit: in.Audit, Refusals: refusals, Tools: b.Tools(), Logger: in.Log}
	if err := toolLimiters(in.Cfg, shared, &deps); err != nil {
		_ = b.Close()
		return nil, err
	}
	closeTools := func() { _ = b.Close() }
	if intro, err := introspector(in.Cfg, base); err != nil {
		closeTools()
		return nil, err
	} else if intro != nil {
		deps.Introspector = intro
		srv.Auth.Others = append(srv.Auth.Others, introspectedLLM{intro})
	}
	h, err := mcp.NewHandler(mcp.Config{BaseURL: base, AllowedOrigins: in.Cfg.Tools.AllowOrigins, KeyPrefix: auth.KeyPrefix,
		MaxBodyBytes: in.Cfg.HTTP.MaxBodyBytes, ServerVersion: Version}, deps)
	if err == nil {
		h, err = h.WithLockout(mcp.Lockout{Limiter: lockout, Failures: refusals, ClientKey: clientKey, WellFormed: wellFormed})
	}
	if err != nil {
		closeTools()
		return nil, err
	}
	// Streamable HTTP: POST carries messages, GET opens the server's SSE
	// stream, DELETE ends a session; any other method gets 405 with Allow.
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		srv.Handle(m+" /mcp", h)
	}
	// HEAD of an SSE stream means nothing, and the SDK refuses it: refuse it
	// here, in the OAuth error shape, with an Allow that does not list it.
	srv.Refuse(http.MethodHead, "/mcp")
	for _, p := range h.MetadataPaths() {
		srv.Handle("GET "+p, h.ProtectedResourceMetadata())
	}
	srv.Handle("GET /.well-known/oauth-authorization-server", as.MetadataHandler())
	srv.Handle("POST /oauth/token", as.TokenHandler())
	return closeTools, nil
}

// defaultCallsPerMinute is tools.calls_per_minute when it is not set (the
// MCP handler's own default, made explicit so Redis enforces it too).
const defaultCallsPerMinute = 60

// toolLimiters sets the per-key limits of tool calls (tools.calls_per_minute
// and tools.limits) in deps: on shared when it is set, so N per minute is N
// across replicas, else in this process's memory.
func toolLimiters(cfg *config.Config, shared limit.RateLimiter, deps *mcp.Deps) error {
	newLimiter := func(n int) (mcp.Limiter, error) { return mcp.NewMemoryLimiter(n, time.Minute) }
	if shared != nil {
		newLimiter = func(n int) (mcp.Limiter, error) {
			l := sharedToolLimiter{rate: shared, per: limit.PerMinute(int64(n))}
			if err := l.per.Validate(); err != nil {
				return nil, fmt.Errorf("tool limiter: %w", err)
			}
			return l, nil
		}
	}
	t := cfg.Tools
	n := t.CallsPerMinute
	if n == 0 {
		n = defaultCallsPerMinute
	}
	var err error
	if deps.Limiter, err = newLimiter(n); err != nil {
		return fmt.Errorf("tools.calls_per_minute: %w", err)
	}
	deps.ToolLimiters = map[string]mcp.Limiter{}
	for name, n := range t.Limits {
		l, err := newLimiter(n)
		if err != nil {
			return fmt.Errorf("tools.limits.%s: %w", name, err)
		}
		deps.ToolLimiters[name] = l
	}
	return nil
}

// sharedToolLimiter adapts a limit.RateLimiter (one GCRA bucket per tool
// and key, in Redis shared by the replicas) to mcp.Limiter: a full bucket
// admits per.Limit calls at once and refills at per.Limit per minute. A
// limiter error is returned, so the MCP handler refuses the call (fail
// closed): a Redis outage never lets a tool call through unlimited. It is
// safe for concurrent use.
type sharedToolLimiter struct {
	rate limit.RateLimiter
	per  limit.Rate
}

var _ mcp.Limiter = sharedToolLimiter{}

// Allow implements mcp.Limiter.
func (l sharedToolLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	d, err := l.rate.Take(ctx, 1, limit.Limit{Key: key, Rate: l.per})
	if err != nil {
		return false, 0, fmt.Errorf("tool limiter: %w", err)
	}
	return d.Allowed, d.RetryAfter, nil
}

// introspectedLLM lets externally introspected tokens call the LLM API.
type introspectedLLM struct{ i *oauth.Introspector }

func (a introspectedLLM) Authenticate(ctx context.Context, tok string) (*identity.Identity, error) {
	if strings.HasPrefix(tok, oauth.TokenPrefix) {
		return nil, auth.ErrUnauthorized
	}
	id, err := a.i.Authenticate(ctx, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrUnauthorized, err)
	}
	// An identity provider's scope names are not Bulwark's to trust:
	// admin, admin:global and guard:bypass never come from outside.
	out := *id
	out.Scopes = nil
	for _, s := range id.Scopes {
		if s == auth.ScopeLLM || strings.HasPrefix(s, "tools:") {
			out.Scopes = append(out.Scopes, s)
		}
	}
	return &out, nil
}

func introspector(cfg *config.Config, base string) (*oauth.Introspector, error) {
	ic := cfg.Tools.OAuth.Introspection
	if ic.Endpoint == "" {
		return nil, nil
	}
	secret := ""
	if ic.ClientSecretEnv != "" {
		secret = os.Getenv(ic.ClientSecretEnv)
	}
	i := &oauth.Introspector{Endpoint: ic.Endpoint, ClientID: ic.ClientID, ClientSecret: secret, Resource: base + "/mcp",
		TenantMap: ic.Tenants, MaxCacheTTL: ic.MaxCacheTTL, MaxEntries: ic.MaxEntries,
		NegativeTTL: ic.NegativeCacheTTL, MaxNegativeEntries: ic.NegativeCacheEntries}
	if err := i.Init(); err != nil {
		return nil, fmt.Errorf("tools.oauth.introspection: %w", err)
	}
	return i, nil
}

// builtinConfig maps the tools section of the config to the MCP builtins.
func builtinConfig(t config.Tools) (mcp.BuiltinConfig, error) {
	bc := mcp.BuiltinConfig{WorkspaceRoot: t.WorkspaceRoot, FSRead: t.FS.Enabled, FSWrite: t.FSWrite.Enabled,
		Env: t.Env.Enabled, EnvAllow: t.Env.Allow, Time: t.Time.Enabled}
	if t.Fetch.Enabled {
		fc := &fetch.Config{AllowHosts: t.Fetch.AllowHosts}
		for _, p := range t.Fetch.AllowPrefixes {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return bc, fmt.Errorf("tools.fetch.allow_prefixes: %w", err)
			}
			fc.AllowPrefixes = append(fc.AllowPrefixes, pfx)
		}
		if t.Fetch.RootCAFile != "" {
			pem, err := os.ReadFile(t.Fetch.RootCAFile)
			if err != nil {
				return bc, fmt.Errorf("tools.fetch.root_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return bc, errors.New("tools.fetch.root_ca_file: no certificates found")
			}
			fc.RootCAs = pool
		}
		bc.Fetch = fc
	}
	if t.SQL.Enabled {
		sc := &sqlq.Config{Databases: map[string]sqlq.DatabaseConfig{}}
		for name, db := range t.SQL.Databases {
			sc.Databases[name] = sqlq.DatabaseConfig{Driver: db.Driver, Path: db.Path, DSN: db.DSN}
		}
		bc.SQL = sc
	}
	// git and exec share one sandbox configuration: they share the
	// tenant workspace, so they must run as the same uid.
	sb := sandbox.Config{BwrapPath: t.Sandbox.BwrapPath, PrlimitPath: t.Sandbox.PrlimitPath,
		RunAsUID: t.Sandbox.RunAsUID, RunAsGID: t.Sandbox.RunAsGID, Limits: sandboxLimits(t.Exec.Limits)}
	if t.Git.Enabled {
		bc.Git = &gittool.Config{AuthorName: "Bulwark agent", AuthorEmail: "agent@bulwark.invalid",
			Network: gittool.NetworkConfig{Enabled: t.Git.Network.Enabled, AllowHosts: t.Git.Network.AllowHosts},
			Sandbox: sb}
	}
	if t.Exec.Enabled {
		ec := &exectool.Config{Sandbox: sb}
		for _, c := range t.Exec.Commands {
			ec.Commands = append(ec.Commands, exectool.Command{Path: c.Path, ArgsPattern: c.ArgsPattern})
		}
		bc.Exec = ec
	}
	return bc, nil
}

// sandboxLimits converts the config's limits; config validation has
// already refused negative values.
func sandboxLimits(l config.ExecLimits) sandbox.Limits {
	return sandbox.Limits{Processes: l.Processes, MemoryBytes: mib(l.MemoryMB), FileSizeBytes: mib(l.FileSizeMB),
		CPUSeconds: l.CPUSeconds, Timeout: l.Timeout, OutputBytes: int(max(l.OutputKB, 0) << 10)}
}

func mib(n int64) uint64 {
	if n <= 0 {
		return 0
	}
	return uint64(n) << 20
}
