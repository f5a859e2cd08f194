package cli

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/internal/admin"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/guard/gatewayhook"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/server"
	"github.com/bulwarkhq/bulwark/internal/upstreams"
	"github.com/bulwarkhq/bulwark/internal/usagelog"
)

// gatewayRoutes are the LLM endpoints, all behind authentication.
var gatewayRoutes = []string{
	"POST /v1/chat/completions",
	"POST /v1/embeddings",
	"POST /v1/messages",
	"POST /v1/messages/count_tokens",
	"GET /v1/models",
	"POST /v1beta/models/", // Gemini: {model}:generateContent, :streamGenerateContent, :countTokens
}

// mountSubsystems wires the LLM gateway onto srv. It returns a function
// that flushes what the subsystems buffered, for shutdown.
func mountSubsystems(_ context.Context, in *instance.Instance, srv *server.Server) (func(), error) {
	usageW := usagelog.New(in.Store, in.Log, srv.Metrics.Registry)
	guardHooks, err := gatewayhook.New(gatewayhook.Config{TenantPolicy: in.Cfg.Guard.TenantPolicy,
		KeySettings: gatewayhook.KeyRecords(in.Keys), Audit: in.Audit, Metrics: srv.Metrics.Registry, Log: in.Log})
	if err != nil {
		usageW.Close()
		return nil, err
	}
	routing, rtr, closeState, err := newRouting(in, srv.Metrics.Registry)
	if err != nil {
		usageW.Close()
		return nil, err
	}
	closeAll := func() { closeState(); usageW.Close() }
	admin.New(in).RegisterHealth(srvMux{srv}, srv.Auth.Wrap, rtr)
	gw, err := gateway.New(gateway.Config{
		Aliases:          in.Cfg.Models,
		DefaultProviders: in.Cfg.DefaultProviders,
		AnthropicBetas:   in.Cfg.AnthropicBetas,
		Prices:           in.Cfg.Prices,
		MaxBodyBytes:     in.Cfg.HTTP.MaxBodyBytes,
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
	mux := http.NewServeMux()
	gw.Register(mux)
	for _, pattern := range gatewayRoutes {
		srv.HandleAuthed(pattern, guardHooks.Middleware(mux))
	}
	closeTools, err := mountMCP(in, srv)
	if err != nil {
		closeAll()
		return nil, err
	}
	return func() { closeTools(); closeAll() }, nil
}
