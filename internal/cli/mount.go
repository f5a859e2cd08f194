package cli

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/internal/admin"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/guard/gatewayhook"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/server"
	"github.com/bulwarkhq/bulwark/internal/upstreams"
	"github.com/bulwarkhq/bulwark/internal/usagelog"
)

// mountSubsystems wires the LLM gateway onto srv. It returns a function
// that flushes what the subsystems buffered, for shutdown.
func mountSubsystems(ctx context.Context, in *instance.Instance, srv *server.Server) (func(), error) {
	usageW := usagelog.New(in.Store, in.Log, srv.Metrics.Registry)
	// Refusals of authenticated callers that come before any limit (a
	// refused guard-skip header, an /mcp scope denial, a refused tool call)
	// are audited as authentication failures are, by the same Refusals:
	// the first of a kind per key (per client, for failures) per minute,
	// the rest counted into the next entry or a summary.
	refusals := srv.Auth.Refusals
	runCtx, stopRefusals := context.WithCancel(ctx)
	go refusals.Run(runCtx)
	closeUsage := func() { stopRefusals(); refusals.Close(); usageW.Close() }
	guardHooks, err := gatewayhook.New(gatewayhook.Config{TenantPolicy: in.Cfg.Guard.TenantPolicy,
		KeySettings: gatewayhook.KeyRecords(in.Keys), Audit: in.Audit, Refusals: refusals, Metrics: srv.Metrics.Registry, Log: in.Log})
	if err != nil {
		closeUsage()
		return nil, err
	}
	routing, rtr, closeState, err := newRouting(in, srv.Metrics.Registry)
	if err != nil {
		closeUsage()
		return nil, err
	}
	closeAll := func() { closeState(); closeUsage() }
	admin.New(in).RegisterHealth(srvMux{srv}, srv.Auth.Wrap, rtr)
	gw, err := gateway.New(gateway.Config{
		Aliases:           in.Cfg.Models,
		DefaultProviders:  in.Cfg.DefaultProviders,
		AnthropicBetas:    in.Cfg.AnthropicBetas,
		Prices:            in.Cfg.Prices,
		MaxBodyBytes:      in.Cfg.HTTP.MaxBodyBytes,
		WriteStallTimeout: in.Cfg.HTTP.WriteStallTimeout,
	}, gateway.Deps{
		Providers: upstreams.New(in),
		Usage:     usageW,
		Logger:    in.Log,
		Metrics:   srv.Metrics.Registry,
		Hooks:     gateway.Hooks{Request: guardHooks, Response: guardHooks},
		Routing:   routing,
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	gw.Register(authedMux{srv: srv, wrap: guardHooks.Middleware})
	var shared limit.RateLimiter // tool limits across replicas, with the Redis backend
	if in.Cfg.Limits.Backend == config.BackendRedis {
		shared = routing.Gate.Rate
	}
	closeTools, err := mountMCP(in, srv, shared, refusals)
	if err != nil {
		closeAll()
		return nil, err
	}
	return func() { closeTools(); closeAll() }, nil
}

// authedMux mounts the gateway's endpoints on the server's route table,
// each behind authentication and then wrap (the guardrails' request
// state), so a request is routed once.
type authedMux struct {
	srv  *server.Server
	wrap func(http.Handler) http.Handler
}

// HandleFunc implements gateway.Mux.
func (m authedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.srv.HandleAuthed(pattern, m.wrap(http.HandlerFunc(h)))
}
