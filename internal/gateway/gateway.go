// Package gateway is Bulwark's LLM front: the OpenAI- and Anthropic-
// compatible endpoints, model addressing, the same-dialect fast path that
// forwards a body after rewriting only its model, streaming that ends
// honestly, dialect-shaped errors and one usage record per call. The lead's
// server mounts it behind authentication (Register) and supplies providers,
// a usage sink and optional hooks for guardrails, limits and routing.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/provider/anthropic"
	"github.com/bulwarkhq/bulwark/internal/provider/mock"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Config is the static gateway configuration, validated once by New.
type Config struct {
	// Aliases maps a client-facing name to "provider/model".
	Aliases map[string]string
	// DefaultProviders maps a model family ("openai", "anthropic") to the
	// provider that serves bare vendor model names (gpt-4o-mini,
	// claude-sonnet-4-5) so tools that send vendor names work unchanged.
	DefaultProviders map[string]string
	// AnthropicBetas allowlists anthropic-beta flags forwarded upstream;
	// nil means anthropic.DefaultBetas (what Claude Code sends).
	AnthropicBetas []string
	// Prices overrides the default price table per upstream model name.
	Prices map[string]usage.Price
	// MaxBodyBytes caps a request body (default 32 MiB).
	MaxBodyBytes int64
	// MaxResponseBytes caps a non-streamed upstream body (default 64 MiB).
	MaxResponseBytes int64
	// WriteStallTimeout bounds a write to a client that makes no progress
	// (default 60 s; see httpx.WriteGuard): a client that stops reading
	// cannot hold its handler, its upstream connection and its limit
	// slots for longer.
	WriteStallTimeout time.Duration
	// Client tunes the upstream HTTP client.
	Client provider.ClientOptions
}

// ProviderSource lists and looks up provider configurations for a tenant.
// The server implements it over the store and the config file, decrypting
// credentials through the barrier. It must be safe for concurrent use.
type ProviderSource interface {
	// Provider returns the named provider of tenant; ok is false when there
	// is none.
	Provider(ctx context.Context, tenant, name string) (cfg provider.Config, ok bool, err error)
	// Providers lists the providers of tenant.
	Providers(ctx context.Context, tenant string) ([]provider.Config, error)
}

// Deps are the gateway's collaborators.
type Deps struct {
	Providers ProviderSource // required
	Usage     usage.Sink     // nil means usage.Discard
	Logger    *slog.Logger   // nil means slog.Default()
	Metrics   prometheus.Registerer
	Hooks     Hooks
	// Routing enables deployments, retries, breakers, limits, budgets and
	// idempotency; the zero value disables them.
	Routing Routing
	// Transport, when set, replaces the upstream transport for real
	// providers (tests, or a custom egress policy).
	Transport http.RoundTripper
}

// Gateway serves the LLM endpoints. It is safe for concurrent use.
type Gateway struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	sink   usage.Sink
	prices *usage.Table
	betas  map[string]bool
	// upstream and mock carry upstream calls. They are round trippers, not
	// http.Clients: a client's redirect, cookie and timeout machinery
	// (a header copy per call) serves nothing here, and a round tripper
	// never follows a redirect, so no credential goes to another host.
	upstream http.RoundTripper
	mock     http.RoundTripper
	metrics  *metrics
	dropped  *prometheus.CounterVec // translated features dropped; nil without metrics
	worst    map[string]worst       // budget worst case per routing alias
	outputs  map[string]int64       // configured output caps per upstream model
	// quietAfter: no call hook but the limiter runs after a call, so a
	// call without limits does no I/O between its relay and its end.
	quietAfter bool
}

// DefaultWriteStallTimeout is Config.WriteStallTimeout's default.
const DefaultWriteStallTimeout = 60 * time.Second

// ErrConfig reports an invalid gateway configuration.
var ErrConfig = errors.New("gateway: invalid config")

// New validates cfg and returns a Gateway.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if deps.Providers == nil {
		return nil, fmt.Errorf("%w: no provider source", ErrConfig)
	}
	for alias, target := range cfg.Aliases {
		p, m, ok := strings.Cut(target, "/")
		if !validModel(alias) || !ok || p == "" || !validModel(m) {
			return nil, fmt.Errorf("%w: alias %q must map to provider/model", ErrConfig, alias)
		}
	}
	for fam := range cfg.DefaultProviders {
		if fam != "openai" && fam != "anthropic" && fam != "gemini" {
			return nil, fmt.Errorf("%w: default provider family %q (want openai, anthropic or gemini)", ErrConfig, fam)
		}
	}
	prices, err := usage.NewTable(cfg.Prices)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 20
	}
	if cfg.WriteStallTimeout <= 0 {
		cfg.WriteStallTimeout = DefaultWriteStallTimeout
	}
	betas := cfg.AnthropicBetas
	if betas == nil {
		betas = anthropic.DefaultBetas
	}
	g := &Gateway{cfg: cfg, deps: deps, log: deps.Logger, sink: deps.Usage, prices: prices, betas: map[string]bool{}}
	for _, b := range betas {
		g.betas[b] = true
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.sink == nil {
		g.sink = usage.Discard{}
	}
	rt := deps.Transport
	if rt == nil {
		rt = provider.NewTransport(cfg.Client)
	}
	g.upstream, g.mock = rt, &mock.Transport{}
	if g.metrics, err = newMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	if g.dropped, err = newDroppedCounter(deps.Metrics); err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	g.outputs = map[string]int64{}
	g.worst = g.aliasWorst()
	g.quietAfter = len(deps.Hooks.Calls) == 0
	if deps.Routing.Gate != nil && deps.Routing.Limits != nil {
		// First, so its AfterCall settles last, with the final record.
		g.deps.Hooks.Calls = append([]CallHook{limiter{g}}, deps.Hooks.Calls...)
	}
	return g, nil
}

// Mux is where Register mounts the endpoints: an *http.ServeMux, or the
// server's route table directly (one routing lookup per request, not two).
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register mounts the LLM endpoints on mux: OpenAI and Anthropic paths and
// Gemini's /v1beta/models/{model}:{method} (a prefix pattern, since
// ServeMux cannot match "{model}:verb" within one segment). The caller puts
// authentication in front of every handler; each fails closed without a
// verified identity.
func (g *Gateway) Register(mux Mux) {
	mux.HandleFunc("POST /v1/chat/completions", g.idempotent(routeChat, g.dispatch(routeChat)))
	mux.HandleFunc("POST /v1/embeddings", g.idempotent(routeEmbeddings, g.handle(routeEmbeddings)))
	mux.HandleFunc("POST /v1/messages", g.idempotent(routeMessages, g.dispatch(routeMessages)))
	mux.HandleFunc("POST /v1beta/models/", g.geminiMethods(g.idempotent(routeGemini, g.serveGemini)))
	mux.HandleFunc("POST /v1/messages/count_tokens", g.handle(routeCountTokens))
	mux.HandleFunc("GET /v1/models", g.models)
}

// route describes one forwarded endpoint.
type route struct {
	dialect apierr.Dialect
	family  provider.Family
	path    string // upstream path (see provider.Call.Path)
	llm     bool   // a billed generation call (usage record, call hooks)
	// count marks a token count: not billed, but under the caller's
	// concurrency and a per-minute bucket of counts (see Gate.AdmitCount).
	count bool
	// endpoint names the API method in usage rows (see endpointName).
	endpoint string
}

var (
	routeChat = route{dialect: apierr.OpenAI, family: provider.FamilyOpenAI, path: "/chat/completions", llm: true,
		endpoint: usage.EndpointChatCompletions}
	routeEmbeddings = route{dialect: apierr.OpenAI, family: provider.FamilyOpenAI, path: "/embeddings", llm: true,
		endpoint: usage.EndpointEmbeddings}
	routeMessages = route{dialect: apierr.Anthropic, family: provider.FamilyAnthropic, path: anthropic.PathMessages, llm: true,
		endpoint: usage.EndpointMessages}
	routeCountTokens = route{dialect: apierr.Anthropic, family: provider.FamilyAnthropic, path: anthropic.PathCountTokens, count: true,
		endpoint: usage.EndpointMessagesCount}
)

// endpointName is the endpoint a usage row of a call on rt records. One
// route serves Gemini's generateContent and streamGenerateContent, two
// methods (two URLs) of their own: stream tells them apart.
func (rt route) endpointName(stream bool) string {
	if stream && rt.endpoint == usage.EndpointGeminiGenerate {
		return usage.EndpointGeminiStream
	}
	return rt.endpoint
}

// caller returns the verified identity allowed to use the LLM API, or the
// error to send: 401 without identity, 403 without the "llm" scope.
func caller(r *http.Request) (*identity.Identity, error) {
	id := identity.FromContext(r.Context())
	if id == nil {
		return nil, apierr.Unauthorized("missing or invalid API key")
	}
	if !id.HasScope("llm") {
		return nil, apierr.Forbidden("permission_denied", "this key may not call the LLM API (scope llm required)")
	}
	return id, nil
}
