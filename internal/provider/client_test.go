package provider_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
