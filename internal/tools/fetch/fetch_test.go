package fetch

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/netguard"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// stubDNS answers from a fixed map; a name with several answers returns them
// in turn (the last repeating), which simulates DNS rebinding. Unknown
// names resolve to 127.0.0.1 so that nothing in these tests can reach the
// real network: anything not refused would land on a counting listener.
type stubDNS struct {
	mu    sync.Mutex
	names map[string][][]netip.Addr
	calls map[string]int
}

func (s *stubDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	answers, ok := s.names[strings.TrimSuffix(strings.ToLower(host), ".")]
	if !ok {
		return []netip.Addr{loopback}, nil
	}
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	i := min(s.calls[host], len(answers)-1)
	s.calls[host]++
	return answers[i], nil
}

// trap is a loopback listener that must never see a connection.
type trap struct {
	ln      net.Listener
	accepts atomic.Int64
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		if n := tr.accepts.Load(); n != 0 {
			t.Errorf("forbidden listener saw %d connections", n)
		}
	})
	return tr
}

func (tr *trap) port() string {
	_, p, _ := net.SplitHostPort(tr.ln.Addr().String())
	return p
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultRefusesLoopbackServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the default policy reached a loopback server")
	}))
	defer srv.Close()
	c := newClient(t, Config{Resolver: &stubDNS{}})
	_, err := c.Get(context.Background(), srv.URL, Options{})
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("Get(%s) = %v, want ErrForbiddenAddress", srv.URL, err)
	}
}

func TestFetchAllowlisted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "Bulwark-fetch/1" {
			t.Errorf("user agent %q", r.Header.Get("User-Agent"))
		}
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 5000)))
		case "/slow":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Second)
		case "/bomb":
			// 16 MiB of zeros, about 16 KiB on the wire: the cap must apply
			// to the decoded body.
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(make([]byte, 16<<20))
			zw.Close()
		case "/hop":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.Header().Set("X-Test", "1")
			w.Write([]byte("hello"))
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	dns := &stubDNS{names: map[string][][]netip.Addr{"intranet.test": {{loopback}}}}
	tests := []struct {
		name      string
		cfg       Config
		url       string
		opts      Options
		body      string
		truncated bool
		final     string
		err       error
	}{
		{"by host name", Config{AllowHosts: []string{"intranet.test"}}, "/ok", Options{}, "hello", false, "/ok", nil},
		{"by prefix", Config{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "http://127.0.0.1:%d/ok", Options{}, "hello", false, "/ok", nil},
		{"redirect followed", Config{AllowHosts: []string{"intranet.test"}}, "/hop", Options{}, "hello", false, "/ok", nil},
		{"size cap", Config{AllowHosts: []string{"intranet.test"}, MaxBytes: 1000}, "/big", Options{}, strings.Repeat("x", 1000), true, "/big", nil},
		{"gzip bomb capped", Config{AllowHosts: []string{"intranet.test"}, MaxBytes: 1000}, "/bomb", Options{}, string(make([]byte, 1000)), true, "/bomb", nil},
		{"per call cap lower", Config{AllowHosts: []string{"intranet.test"}}, "/big", Options{MaxBytes: 10}, strings.Repeat("x", 10), true, "/big", nil},
		{"time cap", Config{AllowHosts: []string{"intranet.test"}, Timeout: 300 * time.Millisecond}, "/slow", Options{}, "", false, "", ErrTimeout},
		{"no redirects allowed", Config{AllowHosts: []string{"intranet.test"}, MaxRedirects: -1}, "/hop", Options{}, "", false, "", ErrTooManyRedirects},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Resolver = dns
			c := newClient(t, tt.cfg)
			u := tt.url
			if strings.HasPrefix(u, "/") {
				u = fmt.Sprintf("http://intranet.test:%d%s", port, u)
			} else {
				u = fmt.Sprintf(u, port)
			}
			start := time.Now()
			res, err := c.Get(context.Background(), u, tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Get = %v, want %v", err, tt.err)
				}
				if time.Since(start) > 1500*time.Millisecond {
					t.Fatalf("took %v", time.Since(start))
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if string(res.Body) != tt.body || res.Truncated != tt.truncated || !strings.HasSuffix(res.FinalURL, tt.final) || res.Status != 200 {
				t.Fatalf("result = %d %q trunc=%v final=%s", res.Status, res.Body, res.Truncated, res.FinalURL)
			}
		})
	}
}

func TestRedirectChainCapped(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	defer srv.Close()
	c := newClient(t, Config{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, err := c.Get(context.Background(), srv.URL, Options{})
	if !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("Get = %v, want ErrTooManyRedirects", err)
	}
	if n := hits.Load(); n != 6 {
		t.Fatalf("server hit %d times, want 6 (1 + 5 redirects)", n)
	}
}

// TestRedirectsToForbidden serves from an allowlisted name and redirects to
// forbidden places; each must fail with a clear error and the trap listener
// on 127.0.0.1 must never be dialled.
func TestRedirectsToForbidden(t *testing.T) {
	tr := newTrap(t)
	target := map[string]string{
		"/metadata":    "http://169.254.169.254/latest/meta-data/",
		"/loopback":    "http://127.0.0.1:" + tr.port() + "/",
		"/mapped":      "http://[::ffff:127.0.0.1]:" + tr.port() + "/",
		"/decimal":     "http://2130706433:" + tr.port() + "/",
		"/nat64":       "http://[64:ff9b::a00:1]/",
		"/rebind":      "http://rebind.test:" + tr.port() + "/",
		"/file":        "file:///etc/passwd",
		"/gopher":      "gopher://127.0.0.1:" + tr.port() + "/",
		"/userinfo":    "http://intranet.test@127.0.0.1:" + tr.port() + "/",
		"/unknownname": "http://evil.test:" + tr.port() + "/",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target[r.URL.Path])
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	dns := &stubDNS{names: map[string][][]netip.Addr{
		"intranet.test": {{loopback}},
		// rebinding: public for the redirect check, loopback at dial time.
		"rebind.test": {{netip.MustParseAddr("93.184.216.34")}, {loopback}},
	}}
	c := newClient(t, Config{AllowHosts: []string{"intranet.test"}, Resolver: dns})
	for path := range target {
		t.Run(path, func(t *testing.T) {
			_, err := c.Get(context.Background(), fmt.Sprintf("http://intranet.test:%d%s", port, path), Options{})
			if !errors.Is(err, ErrForbiddenAddress) && !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("redirect to %s: %v, want a refusal", target[path], err)
			}
			if !strings.Contains(err.Error(), "redirect refused") && path != "/rebind" {
				t.Fatalf("error does not say the redirect was refused: %v", err)
			}
		})
	}
}

func TestDirectForbidden(t *testing.T) {
	tr := newTrap(t)
	p := tr.port()
	dns := &stubDNS{names: map[string][][]netip.Addr{
		"rebind.test": {{netip.MustParseAddr("93.184.216.34")}, {loopback}},
		"mixed.test":  {{netip.MustParseAddr("93.184.216.34"), loopback}},
	}}
	c := newClient(t, Config{Resolver: dns})
	urls := []string{
		"http://127.0.0.1:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://[0:0:0:0:0:ffff:127.0.0.1]:" + p + "/",
		"http://[::1]:" + p + "/",
		"http://localhost:" + p + "/",
		"http://2130706433:" + p + "/",
		"http://0177.0.0.1:" + p + "/",
		"http://0x7f.1:" + p + "/",
		"http://0x7f000001:" + p + "/",
		"http://[64:ff9b::a00:1]/",
		"http://[64:ff9b::7f00:1]:" + p + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/",
		"http://rebind.test:" + p + "/",
		"http://mixed.test:" + p + "/",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			_, err := c.Get(context.Background(), u, Options{})
			if !errors.Is(err, ErrForbiddenAddress) && !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("Get(%s) = %v, want refusal", u, err)
			}
		})
	}
	// The error says why, in words an operator or model can act on.
	_, err := c.Get(context.Background(), "http://169.254.169.254/latest/meta-data/", Options{})
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254 is link-local (cloud metadata)") {
		t.Fatalf("metadata error = %v", err)
	}
}

// TestRebindingCaughtAtDial skips the early host check (calls the transport
// directly) to prove the dial-time check alone stops a rebinding name.
func TestRebindingCaughtAtDial(t *testing.T) {
	tr := newTrap(t)
	dns := &stubDNS{names: map[string][][]netip.Addr{
		"rebind.test": {{netip.MustParseAddr("93.184.216.34")}, {loopback}},
	}}
	c := newClient(t, Config{Resolver: dns})
	if err := c.policy.CheckHost(context.Background(), "rebind.test"); err != nil {
		t.Fatalf("first answer is public: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://rebind.test:"+tr.port()+"/", nil)
	_, err := c.http.Transport.RoundTrip(req)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("RoundTrip = %v, want ErrForbiddenAddress", err)
	}
}

func TestEnvironmentProxyIgnored(t *testing.T) {
	proxy := newTrap(t)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:"+proxy.port())
	t.Setenv("http_proxy", "http://127.0.0.1:"+proxy.port())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("direct")) }))
	defer srv.Close()
	c := newClient(t, Config{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	res, err := c.Get(context.Background(), srv.URL, Options{})
	if err != nil || string(res.Body) != "direct" {
		t.Fatalf("Get = %v, %v", res, err)
	}
}

// TestSSRFCorpus tries every SecLists SSRF_hacktricks entry as given and
// with its port pointed at a trap listener. Unknown names resolve to
// loopback, so nothing reaches the network; every entry that is not a plain
// public address must be refused and the trap must see no connection.
func TestSSRFCorpus(t *testing.T) {
	tr := newTrap(t)
	f, err := os.Open(filepath.Join("testdata", "ssrf", "SSRF_hacktricks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := newClient(t, Config{Resolver: &stubDNS{}, Timeout: 2 * time.Second})
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		n++
		raw := line
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		for _, u := range []string{raw, withPort(raw, tr.port())} {
			if public(u) {
				continue // e.g. "1.1.1.1": a public address is fetch's purpose
			}
			_, err := c.Get(context.Background(), u, Options{})
			if !errors.Is(err, ErrForbiddenAddress) && !errors.Is(err, ErrInvalidURL) {
				t.Errorf("Get(%q) = %v, want refusal", u, err)
			}
		}
	}
	if n < 70 {
		t.Fatalf("read %d corpus lines", n)
	}
}

// withPort rewrites the authority's port to port when the URL parses.
func withPort(raw, port string) string {
	u, err := ValidateURL(raw)
	if err != nil {
		return raw
	}
	u.Host = net.JoinHostPort(u.Hostname(), port)
	return u.String()
}

func public(raw string) bool {
	u, err := ValidateURL(raw)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return false
	}
	var c Client
	c.policy = newClientPolicy()
	return c.policy.CheckAddr(a) == nil
}

func newClientPolicy() *netguard.Policy { return &netguard.Policy{} }

func TestHTTPSVerified(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tls ok")) }))
	defer srv.Close()
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tests := []struct {
		name string
		cas  *x509.CertPool
		ok   bool
	}{
		{"internal CA configured", pool, true},
		{"untrusted certificate refused", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{AllowPrefixes: allow, RootCAs: tt.cas})
			res, err := c.Get(context.Background(), srv.URL, Options{})
			if tt.ok && (err != nil || string(res.Body) != "tls ok") {
				t.Fatalf("Get = %v, %v", res, err)
			}
			if !tt.ok && err == nil {
				t.Fatal("an untrusted certificate was accepted")
			}
		})
	}
}
