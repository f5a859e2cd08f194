package provider_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/provider"
)

// fullBacklog returns a loopback address whose accept queue is full: a
// connect to it hangs until the dialer gives up.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("could not fill the accept queue")
	return ""
}

// TestConnectTimeout: WithConnectTimeout bounds a new connection's TCP
// connect on the shared transport, and leaves pooled connections alone
// (a bound too short for any dial still reuses a kept-alive connection).
func TestConnectTimeout(t *testing.T) {
	var conns atomic.Int64
	live := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	live.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	live.Start()
	t.Cleanup(live.Close)
	client := provider.NewClient(provider.NewTransport(provider.ClientOptions{}))
	get := func(ctx context.Context, url string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	if err := get(context.Background(), live.URL); err != nil { // warm the pool
		t.Fatal(err)
	}
	dead := "http://" + fullBacklog(t)

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		wantErr bool
		maxTook time.Duration
	}{
		{"blackholed connect fails within the bound", dead, 150 * time.Millisecond, true, time.Second},
		{"pooled connection is reused despite a tiny bound", live.URL, time.Nanosecond, false, time.Second},
		{"zero leaves the request unbounded", live.URL, 0, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := get(provider.WithConnectTimeout(context.Background(), tt.timeout), tt.url)
			took := time.Since(start)
			if (err != nil) != tt.wantErr || took > tt.maxTook {
				t.Fatalf("err %v after %v, want error=%v within %v", err, took, tt.wantErr, tt.maxTook)
			}
		})
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections to the live server, want 1 (pooling lost)", n)
	}
}

// Plain-HTTP upstreams are served by internal/h1 (no gzip asked for);
// with an egress proxy configured, every request goes through the proxy.
func TestTransportPerRoute(t *testing.T) {
	seen := make(chan *http.Request, 1)
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		_, _ = io.WriteString(w, "ok")
	})
	up := httptest.NewServer(record)
	t.Cleanup(up.Close)
	proxy := httptest.NewServer(record)
	t.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)
	for _, tc := range []struct {
		name     string
		opts     provider.ClientOptions
		wantURI  string
		wantGzip bool
	}{
		{"direct", provider.ClientOptions{}, "/v1/models", false},
		{"proxied", provider.ClientOptions{Proxy: proxyURL}, up.URL + "/v1/models", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, up.URL+"/v1/models", nil)
			resp, err := provider.NewTransport(tc.opts).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			r := <-seen
			if r.RequestURI != tc.wantURI || (r.Header.Get("Accept-Encoding") == "gzip") != tc.wantGzip {
				t.Errorf("request URI %q, Accept-Encoding %q", r.RequestURI, r.Header.Get("Accept-Encoding"))
			}
		})
	}
}
