// Package h1 is the upstream transport for plain-HTTP upstreams (Ollama,
// vLLM, llama.cpp, a sidecar on loopback): HTTP/1.1 with keep-alive, where
// the calling goroutine writes the request and reads the answer itself.
//
// net/http's Transport gives every connection a reader and a writer
// goroutine and hands each request and response between them and the
// caller over channels; for a proxy relaying short streams that hand-off is
// a measurable share of the work (docs/performance.md, nineteenth round).
// This transport serves only what it can serve exactly — an "http" URL, no
// egress proxy, a body of known length up to 1 MiB that can be sent again —
// and gives everything else (TLS, and with it HTTP/2, proxies, upgrades,
// large bodies) to the fallback, a net/http Transport.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configure a Transport. Zero values take the defaults named.
type Options struct {
	// DialContext opens connections (required).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdlePerHost bounds the keep-alive pool per host (default 256).
	MaxIdlePerHost int
	// IdleTimeout closes a connection idle this long (default 90s).
	IdleTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the status line and
	// headers once the request is written (0: none).
	ResponseHeaderTimeout time.Duration
	// Fallback serves every request this transport does not (required).
	Fallback http.RoundTripper
}

// Transport is an http.RoundTripper. It is safe for concurrent use.
type Transport struct {
	o    Options
	mu   sync.Mutex
	idle map[string]*pool
}

// New returns a Transport for o.
func New(o Options) *Transport {
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 256
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 90 * time.Second
	}
	return &Transport{o: o, idle: map[string]*pool{}}
}

// maxBody is the largest request body this transport sends; larger ones
// (long contexts, images) go to the fallback.
const maxBody = 1 << 20

// errStale reports a request that never reached a pooled connection's
// upstream whole (the write to it failed), or one safe to send twice that
// got no byte of answer: it is sent again, once, on a new connection.
var errStale = errors.New("h1: pooled connection closed by the upstream")

// ErrHeaderTimeout reports an upstream that did not answer within
// Options.ResponseHeaderTimeout. It is a net.Error whose Timeout is true,
// as net/http's is: the router retries it elsewhere.
var ErrHeaderTimeout error = headerTimeout{}

type headerTimeout struct{}

func (headerTimeout) Error() string   { return "h1: timeout awaiting response headers" }
func (headerTimeout) Timeout() bool   { return true }
func (headerTimeout) Temporary() bool { return true }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !servable(req) {
		return t.o.Fallback.RoundTrip(req)
	}
	if err := validRequest(req); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	if ctx.Err() != nil {
		// Checked before a pooled connection is taken, so a healthy one
		// is not closed for a request nobody waits for.
		closeBody(req)
		return nil, context.Cause(ctx)
	}
	addr := hostPort(req.URL.Host)
	c, err := t.get(ctx, addr)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := c.roundTrip(req)
	if errors.Is(err, errStale) {
		// The write to a pooled connection failed (the upstream had
		// closed it), or a request safe to repeat got no byte back: it
		// goes once more, on a new connection, as net/http sends it.
		var again *http.Request
		if again, err = rewind(req); err == nil {
			if c, err = t.dial(ctx, addr); err == nil {
				resp, err = c.roundTrip(again)
			}
		}
		if errors.Is(err, errStale) {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp.Request = req
	return resp, nil
}

// servable reports whether req is one this transport answers exactly.
func servable(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" || req.Method == http.MethodConnect {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && (req.ContentLength <= 0 || req.GetBody == nil) {
		return false
	}
	// The request is written whole before the answer is read. An upstream
	// that refuses a large body while it still arrives (a 413, then a
	// reset) would lose its answer here; net/http reads while it writes.
	if req.ContentLength > maxBody {
		return false
	}
	// A trailer, an upgrade, an expectation or a connection to close asks
	// for what only net/http implements.
	if len(req.Trailer) > 0 || len(req.TransferEncoding) > 0 || req.Close {
		return false
	}
	for _, h := range [...]string{"Upgrade", "Expect", "Connection"} {
		if _, ok := req.Header[h]; ok {
			return false
		}
	}
	return true
}

// rewind returns a copy of req with a fresh body: the caller's request is
// not modified.
func rewind(req *http.Request) (*http.Request, error) {
	again := new(http.Request)
	*again = *req
	if req.GetBody == nil {
		return again, nil
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("h1: resend body: %w", err)
	}
	again.Body = b
	return again, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// hostPort adds HTTP's default port to a URL host without one.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, "80")
}

// get returns a pooled connection to addr, or a new one.
func (t *Transport) get(ctx context.Context, addr string) (*conn, error) {
	for {
		c := t.takeIdle(addr)
		if c == nil {
			return t.dial(ctx, addr)
		}
		if c.usable() {
			return c, nil
		}
		c.closeConn()
	}
}

func (t *Transport) dial(ctx context.Context, addr string) (*conn, error) {
	nc, err := t.o.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{t: t, addr: addr, nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// CloseIdleConnections closes every pooled connection, here and in the
// fallback.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	pools := t.idle
	t.idle = map[string]*pool{}
	t.mu.Unlock()
	for _, p := range pools {
		p.closeAll()
	}
	if f, ok := t.o.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}
