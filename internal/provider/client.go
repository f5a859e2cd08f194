package provider

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/bulwarkhq/bulwark/internal/h1"
)

// ClientOptions tunes the upstream HTTP client.
type ClientOptions struct {
	// MaxIdleConnsPerHost is the keep-alive pool per upstream host; size it
	// for the expected concurrency (default 256).
	MaxIdleConnsPerHost int
	// DialTimeout bounds TCP connect (default 10s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the upstream's status line
	// (default 10m: reasoning models may think long before answering).
	ResponseHeaderTimeout time.Duration
	// Proxy is an explicit egress proxy; the environment is never consulted.
	Proxy *url.URL
}

// NewTransport returns the upstream transport, tuned for a proxy: a large
// keep-alive pool, bounded connect, TLS and header waits, and no proxy from
// the environment unless one is configured explicitly. Plain-HTTP
// upstreams are served by internal/h1 (the caller's goroutine does the
// I/O; no gzip is asked for); HTTPS ones, and every upstream behind an
// egress proxy, by a net/http Transport: HTTP/2 where the upstream offers
// it, compression left to it so gzip'd JSON is decoded transparently.
func NewTransport(o ClientOptions) http.RoundTripper {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 10 * time.Minute
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           connectDialer(d),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          o.MaxIdleConnsPerHost * 4,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
	}
	if o.Proxy != nil {
		t.Proxy = http.ProxyURL(o.Proxy)
		return t
	}
	return h1.New(h1.Options{
		DialContext:           t.DialContext,
		MaxIdlePerHost:        t.MaxIdleConnsPerHost,
		IdleTimeout:           t.IdleConnTimeout,
		ResponseHeaderTimeout: t.ResponseHeaderTimeout,
		Fallback:              t,
	})
}

type connectKey struct{}

// WithConnectTimeout returns ctx carrying d as the bound of any TCP connect
// the transport makes for a request under ctx (a routed deployment's
// timeouts.connect); d ≤ 0 returns ctx unchanged. One transport serves every
// deployment, so connection pooling is kept: the bound applies only when a
// new connection is dialled, never to a pooled one. The shorter of d and
// ClientOptions.DialTimeout applies; the TLS handshake stays bounded by the
// transport's own handshake timeout.
func WithConnectTimeout(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, connectKey{}, d)
}

// connectDialer dials with d, bounded by the request's connect timeout when
// it carries one. net/http dials under a context that keeps the request's
// values but not its cancellation, so the value is found here.
func connectDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if t, ok := ctx.Value(connectKey{}).(time.Duration); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		return d.DialContext(ctx, network, addr)
	}
}

// NewClient returns an http.Client over rt that never follows redirects:
// an upstream redirect must not carry a credential to another host.
func NewClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
