// Package server assembles Bulwark's HTTP server: listeners with timeouts
// and caps, the middleware chain (composed once), the route table, and
// graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/httpx"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/metrics"
)

// Server is Bulwark's HTTP front. Build it with New, add subsystems with
// Handle/HandleAuthed, then Run.
type Server struct {
	in      *instance.Instance
	cfg     *config.Config
	log     *slog.Logger
	Metrics *metrics.Metrics
	Auth    *auth.Middleware
	mux     *http.ServeMux
	exact   *exactRoutes // the hot POST routes, ahead of mux
	ready   func(context.Context) error
	ln      net.Listener
	served  bool
	table   *routeTable
	private []privateArea
}

// New builds the server and its core routes (health, metrics, admin API).
func New(in *instance.Instance, m *metrics.Metrics) (*Server, error) {
	trusted := make([]netip.Prefix, 0, len(in.Cfg.TrustedProxies))
	for _, p := range in.Cfg.TrustedProxies {
		pfx, err := config.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, pfx)
	}
	s := &Server{in: in, cfg: in.Cfg, log: in.Log, Metrics: m, mux: http.NewServeMux(), table: newRouteTable(),
		private: []privateArea{{prefix: "/api/admin/", scope: auth.ScopeAdmin}}}
	if in.Cfg.Metrics.Listen == "" {
		s.private = append(s.private, privateArea{prefix: "/metrics", scope: auth.ScopeAdminGlobal})
	}
	s.Auth = &auth.Middleware{Keys: in.Keys, Lockout: auth.NewLockout(in.Cfg.Auth.FailuresPerMinute),
		Trusted: trusted, Refusals: auth.NewRefusals(in.Audit, in.Log), Log: in.Log, Failures: m.AuthFailure}
	s.exact = &exactRoutes{next: s.mux}
	s.ready = func(ctx context.Context) error { _, err := in.Store.KeysGeneration(ctx); return err }
	s.routes()
	return s, nil
}

// Handle registers a route served without Bulwark's authentication (the
// handler does its own, like /mcp, or needs none, like health). A pattern
// with a method ("POST /x") makes other methods on its path answer 405
// with Allow; register each method a path serves.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.exact.add(pattern, h)
	s.table.add(pattern)
}

// Refuse answers method on path with 405 (Allow lists what the path does
// serve) where a registered pattern would otherwise take it: ServeMux
// routes HEAD to every GET pattern, and a handler such as the MCP SDK's
// refuses HEAD in its own plain-text way, while Allow listed it.
func (s *Server) Refuse(method, path string) {
	s.table.refuse(method, path)
	s.mux.Handle(method+" "+path, s.fallback())
}

// HandleAuthed registers a route behind authentication. A wrong method on
// its path answers 405 before authentication: the public API's paths are
// documented, so the 405 tells an anonymous caller nothing new (paths
// under /api/admin/ are the exception, see fallback).
func (s *Server) HandleAuthed(pattern string, h http.Handler) { s.Handle(pattern, s.Auth.Wrap(h)) }

// Routes returns every pattern registered with Handle or HandleAuthed
// (including the server's own), in registration order.
func (s *Server) Routes() []string { return s.table.list() }

// RequireScope wraps h so only identities holding scope get through.
func RequireScope(scope string, log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !identity.FromContext(r.Context()).HasScope(scope) {
			apierr.Write(w, r, auth.DialectOf(r), apierr.Forbidden("insufficient_scope",
				"this key lacks the "+scope+" scope"), log)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) routes() {
	s.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}))
	s.Handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			apierr.Write(w, r, apierr.OpenAI, apierr.Unavailable("not_ready", "store unavailable", time.Second).WithCause(err), s.log)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	}))
	if s.cfg.Metrics.Listen == "" {
		s.HandleAuthed("GET /metrics", RequireScope(auth.ScopeAdminGlobal, s.log, s.Metrics.Handler()))
	}
	s.mux.Handle("/", s.fallback())
}

func trimPath(p string) string {
	if len(p) > 128 {
		return p[:128] + "…"
	}
	return p
}

// Handler returns the full middleware chain around the route table.
func (s *Server) Handler() http.Handler {
	route := func(r *http.Request) string {
		if r.Pattern == "" {
			return "unmatched"
		}
		return r.Pattern
	}
	hsts := s.cfg.TLS.Enabled() || s.cfg.BehindTLSProxy
	return httpx.Chain(s.exact,
		httpx.RequestID(),
		httpx.Recover(s.log, auth.DialectOf),
		httpx.SecurityHeaders(hsts),
		httpx.CORS(s.cfg.CORS.AllowedOrigins, s.cfg.CORS.AllowCredentials),
		httpx.AccessLog(s.log, route, s.Metrics.Observe),
		httpx.BodyLimit(s.cfg.HTTP.MaxBodyBytes, s.cfg.HTTP.BodyReadTimeout, auth.DialectOf, s.log),
	)
}

// Listen binds the listener (and the TLS layer) without serving yet, so
// callers know the real address (a ":0" port resolved) before mounting
// handlers that need it.
func (s *Server) Listen() (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			_ = ln.Close()
			return "", fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	}
	s.ln = ln
	return ln.Addr().String(), nil
}

// CloseListener closes a listener bound by Listen that Run never served
// (startup failed after binding).
func (s *Server) CloseListener() {
	if s.ln != nil && !s.served {
		_ = s.ln.Close()
	}
}

// Run serves on the listener from Listen (binding one first if needed)
// until ctx ends, then shuts down gracefully: the listener closes at once,
// in-flight requests get ShutdownTimeout to finish. onListen, if set, is
// called with the bound address.
func (s *Server) Run(ctx context.Context, onListen func(addr string)) error {
	if s.ln == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	ln := s.ln
	s.served = true
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    s.cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests neither end with ctx (Shutdown drains them) nor carry its
		// values (none is set there): a background context keeps their
		// chain short, and every ctx.Value that misses — net/http's
		// transport makes several per request — walks all of it.
		BaseContext: func(net.Listener) context.Context { return context.Background() },
	}
	var metricsSrv *http.Server
	if s.cfg.Metrics.Listen != "" {
		var err error
		if metricsSrv, err = s.serveMetrics(); err != nil {
			_ = ln.Close()
			return err
		}
	}
	// The route table at debug level: what an operator (and the test that
	// every route answers 405 for other methods) can check was mounted.
	s.log.Debug("routes", "patterns", s.Routes(), "refused", s.table.refused())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) serveMetrics() (*http.Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", s.cfg.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
