package h1_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/h1"
)

func TestKeepAliveReusesOneConnection(t *testing.T) {
	var cc connCounter
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "hello")
	}))
	cc.track(up)
	up.Start()
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	for i, path := range []string{"/length", "/chunked", "/length", "/chunked", "/length"} {
		resp, err := tr.RoundTrip(post(t, up.URL+path, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, resp); b != "hello" {
			t.Fatalf("%s: %q", path, b)
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d connections for five requests, want 1", n)
	}
}

// failingConn fails every write after the first few: a pooled connection
// the upstream closed between the pool's check and the request.
type failingConn struct {
	net.Conn
	writes, ok int
}

func (c *failingConn) Write(p []byte) (int, error) {
	if c.writes++; c.writes > c.ok {
		return 0, syscall.EPIPE
	}
	return c.Conn.Write(p)
}

// A request whose write to a pooled connection fails never arrived whole:
// it is sent again, once, on a new connection, body and all.
func TestFailedWriteIsResentOnce(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	url, conns := rawUpstream(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_, body, err := readRequest(br)
			if err != nil {
				return
			}
			mu.Lock()
			bodies = append(bodies, fmt.Sprintf("conn %d: %s", n, body))
			mu.Unlock()
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	dials := 0
	tr, _ := newTransport(h1.Options{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if dials++; dials == 1 && err == nil {
			return &failingConn{Conn: c, ok: 1}, nil
		}
		return c, err
	}})
	defer tr.CloseIdleConnections()
	for _, body := range []string{"first", "second"} {
		req := post(t, url, body)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if resp.Request != req {
			t.Error("the response does not point at the caller's request")
		}
		if b := readAll(t, resp); b != "ok" {
			t.Fatalf("%s: %q", body, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"conn 1: first", "conn 2: second"}
	if fmt.Sprint(bodies) != fmt.Sprint(want) || conns.Load() != 2 {
		t.Errorf("upstream saw %q over %d connections, want %q over 2", bodies, conns.Load(), want)
	}
}

// A pooled connection that closes after the request was written gives no
// answer, and the upstream may have carried the request out: a POST is
// not sent again (the router decides); a GET, or a request naming its
// idempotency key, is.
func TestSilentCloseResendsOnlyRepeatableRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		key    bool
		resent bool
	}{
		{"POST", http.MethodPost, false, false},
		{"POST with Idempotency-Key", http.MethodPost, true, true},
		{"GET", http.MethodGet, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var executed atomic.Int32
			url, _ := rawUpstream(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, _, err := readRequest(br)
					if err != nil {
						return
					}
					if req.URL.Path == "/charge" {
						executed.Add(1)
						if n == 1 {
							return // carried out, then gone without a byte
						}
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			tr, _ := newTransport(h1.Options{})
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(post(t, url+"/warm", "{}"))
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			var body io.Reader
			if tc.method == http.MethodPost {
				body = strings.NewReader("{}")
			}
			req, _ := http.NewRequest(tc.method, url+"/charge", body)
			if tc.key {
				req.Header.Set("Idempotency-Key", "k1")
			}
			resp, err = tr.RoundTrip(req)
			if tc.resent {
				if err != nil {
					t.Fatalf("not resent: %v", err)
				}
				readAll(t, resp)
			} else if err == nil {
				t.Fatal("a POST the upstream may have carried out was sent again")
			}
			if want := map[bool]int32{true: 2, false: 1}[tc.resent]; executed.Load() != want {
				t.Errorf("upstream carried it out %d times, want %d", executed.Load(), want)
			}
		})
	}
}

// Bytes an upstream sends past its answer's end (a body on a 204, a
// Content-Length too short) are nobody's answer: the next request gets
// its own, on another connection.
func TestSurplusBytesReachNoOtherCaller(t *testing.T) {
	for _, first := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\nNOT-YOUR-ANSWER",
		"HTTP/1.1 204 No Content\r\n\r\n{}",
	} {
		url, _ := rawUpstream(t, func(n int, c net.Conn) {
			br := bufio.NewReader(c)
			for i := 0; ; i++ {
				_, body, err := readRequest(br)
				if err != nil {
					return
				}
				if n == 1 && i == 0 {
					_, _ = io.WriteString(c, first)
					continue
				}
				a := "answer-to-" + body
				_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(a), a)
			}
		})
		tr, _ := newTransport(h1.Options{})
		for _, body := range []string{"A", "B", "C"} {
			resp, err := tr.RoundTrip(post(t, url, body))
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if got := readAll(t, resp); body != "A" && got != "answer-to-"+body {
				t.Errorf("request %s read %q", body, got)
			}
		}
		tr.CloseIdleConnections()
	}
}

// On a new connection nothing is retried: the upstream's silence is the
// answer.
func TestNewConnectionIsNotRetried(t *testing.T) {
	url, conns := rawUpstream(t, func(_ int, c net.Conn) {
		_, _, _ = readRequest(bufio.NewReader(c))
	})
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	if _, err := tr.RoundTrip(post(t, url, "x")); err == nil {
		t.Fatal("no error from an upstream that closed without answering")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// Pooled connections idle past IdleTimeout are closed by the transport.
func TestIdleConnectionsAreSwept(t *testing.T) {
	var cc connCounter
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	cc.track(up)
	up.Start()
	defer up.Close()
	tr, _ := newTransport(h1.Options{IdleTimeout: 100 * time.Millisecond})
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(post(t, up.URL, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	deadline := time.Now().Add(5 * time.Second)
	for cc.closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if cc.closed.Load() != 1 {
		t.Fatal("an idle connection outlived IdleTimeout")
	}
}

func TestPoolIsBoundedPerHost(t *testing.T) {
	var cc connCounter
	hold := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(3)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived.Done()
		<-hold
		_, _ = io.WriteString(w, "ok")
	}))
	cc.track(up)
	up.Start()
	defer up.Close()
	tr, _ := newTransport(h1.Options{MaxIdlePerHost: 1})
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tr.RoundTrip(post(t, up.URL, "{}"))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}()
	}
	arrived.Wait()
	close(hold)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for cc.closed.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if o, c := cc.opened.Load(), cc.closed.Load(); o != 3 || c != 2 {
		t.Errorf("opened %d closed %d, want 3 and 2 (one kept idle)", o, c)
	}
}
