package gittool

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connectProxy is the only way out for git's network operations: git is
// started with http.proxy pointing here, and this proxy accepts only
// CONNECT to an allowlisted host:port, then dials it through the netguard
// policy, whose dial-time check refuses internal addresses whatever the
// name resolves to. It requires a per-Runner random credential so other
// local processes cannot borrow it. Safe for concurrent use.
type connectProxy struct {
	ln    net.Listener
	allow hostAllow
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	auth  string // expected Proxy-Authorization header value
	user  string // "bulwark:<token>" for git's proxy URL

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Proxy timeouts: the CONNECT request must arrive quickly; a tunnel lives
// at most as long as the longest git run is allowed to.
const (
	proxyHandshakeTimeout = 10 * time.Second
	proxyDialTimeout      = 15 * time.Second
)

func newConnectProxy(allow hostAllow, dial func(context.Context, string, string) (net.Conn, error)) (*connectProxy, error) {
	// Started once by New, which has no context: the listener lives as long
	// as the Runner and is closed by Close.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		_ = ln.Close() // unused; the rand failure is what matters
		return nil, err
	}
	user := "bulwark:" + hex.EncodeToString(tok)
	p := &connectProxy{ln: ln, allow: allow, dial: dial, user: user,
		auth:  "Basic " + base64.StdEncoding.EncodeToString([]byte(user)),
		conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the proxy URL given to git (with its credential).
func (p *connectProxy) URL() string { return "http://" + p.user + "@" + p.ln.Addr().String() }

func (p *connectProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close() // the proxy is closing: refuse the connection
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *connectProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close() // a finished tunnel: nothing left to deliver
}

func (p *connectProxy) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(proxyHandshakeTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(req.Header.Get("Proxy-Authorization")), []byte(p.auth)) != 1:
		_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"bulwark\"\r\nContent-Length: 0\r\n\r\n")
		return
	case req.Method != http.MethodConnect:
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	case !p.allow.allowsHostPort(req.RequestURI):
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), proxyDialTimeout)
	up, err := p.dial(ctx, "tcp", req.RequestURI)
	cancel()
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !p.track(up) {
		_ = up.Close() // the proxy is closing: drop the new upstream
		return
	}
	defer p.untrack(up)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// Close stops the listener and tears down every open tunnel.
func (p *connectProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close() // teardown: each handler sees its copy fail and returns
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}
