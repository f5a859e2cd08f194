package h1_test

import (
	"bufio"
	"context"
	"errors"
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

// fallback records the requests the transport hands on.
type fallback struct{ got []*http.Request }

func (f *fallback) RoundTrip(r *http.Request) (*http.Response, error) {
	f.got = append(f.got, r)
	return &http.Response{StatusCode: 299, Body: http.NoBody, Request: r}, nil
}

func newTransport(o h1.Options) (*h1.Transport, *fallback) {
	fb := &fallback{}
	if o.DialContext == nil {
		o.DialContext = (&net.Dialer{}).DialContext
	}
	o.Fallback = fb
	return h1.New(o), fb
}

// connCounter is an upstream that counts the connections it accepted and
// closed.
type connCounter struct {
	opened, closed atomic.Int32
}

func (c *connCounter) track(s *httptest.Server) {
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			c.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			c.closed.Add(1)
		}
	}
}

func post(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sendOne sends one POST to url through a new transport, closed when the
// test ends.
func sendOne(t *testing.T, url string) *http.Response {
	t.Helper()
	tr, _ := newTransport(h1.Options{})
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := tr.RoundTrip(post(t, url, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	_ = resp.Body.Close()
	return string(b)
}

func TestRoundTripIsExact(t *testing.T) {
	type seen struct {
		method, uri, host, body string
		header                  http.Header
		length                  int64
		te                      []string
	}
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone(), r.ContentLength, r.TransferEncoding}
		w.Header().Set("X-Up", "one")
		w.Header().Add("X-Up", "two")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	tr, fb := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	req := post(t, up.URL+"/v1/chat/completions?beta=true", `{"model":"m"}`)
	req.Header.Set("Authorization", "Bearer sk-test")
	req.Header.Set("Anthropic-Beta", "a, b")
	req.Header.Set("User-Agent", "bulwark")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(fb.got) != 0 {
		t.Fatal("a plain-HTTP request went to the fallback")
	}
	if body := readAll(t, resp); body != `{"ok":true}` {
		t.Errorf("body %q", body)
	}
	if resp.StatusCode != 201 || resp.Status != "201 Created" || resp.Proto != "HTTP/1.1" || resp.ContentLength != 11 {
		t.Errorf("status %d %q %s, length %d", resp.StatusCode, resp.Status, resp.Proto, resp.ContentLength)
	}
	if v := resp.Header.Values("X-Up"); len(v) != 2 || v[0] != "one" || v[1] != "two" {
		t.Errorf("X-Up %q", v)
	}
	if resp.Request != req {
		t.Error("response does not point at its request")
	}
	s := <-got
	if s.method != "POST" || s.uri != "/v1/chat/completions?beta=true" || s.host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("request line %s %s host %s", s.method, s.uri, s.host)
	}
	if s.body != `{"model":"m"}` || s.length != 13 || len(s.te) != 0 {
		t.Errorf("body %q length %d te %v", s.body, s.length, s.te)
	}
	for k, want := range map[string]string{"Authorization": "Bearer sk-test", "Anthropic-Beta": "a, b", "User-Agent": "bulwark", "Accept-Encoding": ""} {
		if v := s.header.Get(k); v != want {
			t.Errorf("upstream got %s %q, want %q", k, v, want)
		}
	}
}

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

// A stream is relayed event by event: the first event is readable while
// the upstream still holds the second back.
func TestStreamIsNotBuffered(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-next
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	defer up.Close()
	resp := sendOne(t, up.URL)
	if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.Header.Get("Transfer-Encoding") != "" {
		t.Errorf("length %d, transfer encoding %v, header %q", resp.ContentLength, resp.TransferEncoding, resp.Header.Get("Transfer-Encoding"))
	}
	buf := make([]byte, 256)
	done := make(chan string, 1)
	go func() {
		n, _ := resp.Body.Read(buf)
		done <- string(buf[:n])
	}()
	select {
	case first := <-done:
		if first != "data: one\n\n" {
			t.Errorf("first read %q", first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was held back until the second")
	}
	close(next)
	if rest := readAll(t, resp); rest != "data: two\n\n" {
		t.Errorf("rest %q", rest)
	}
}

// The read that brings the last event also brings the end, when the
// upstream sent both together.
func TestLastEventComesWithEOF(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "data: [DONE]\n\n") // with the handler's return: one segment
	}))
	defer up.Close()
	resp := sendOne(t, up.URL)
	defer func() { _ = resp.Body.Close() }()
	buf := make([]byte, 256)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	time.Sleep(100 * time.Millisecond) // the rest is buffered by now
	n, err := resp.Body.Read(buf)
	if string(buf[:n]) != "data: [DONE]\n\n" || err != io.EOF {
		t.Errorf("last read %q %v, want the event with io.EOF", buf[:n], err)
	}
}

func TestEarlyCloseDropsTheConnection(t *testing.T) {
	var cc connCounter
	gone := make(chan struct{}, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		for {
			_, _ = io.WriteString(w, "data: more\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				gone <- struct{}{}
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}))
	cc.track(up)
	up.Start()
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(post(t, up.URL+"/endless", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("a read after Close succeeded")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the caller leave")
	}
	resp, err = tr.RoundTrip(post(t, up.URL+"/short", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if n := cc.opened.Load(); n != 2 {
		t.Errorf("%d connections, want 2: a half-read connection must not be reused", n)
	}
}

func TestCancelWhileAwaitingHeaders(t *testing.T) {
	gone := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http watches for a close once the body is read
		<-r.Context().Done()
		gone <- struct{}{}
	}))
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.RoundTrip(post(t, up.URL, "{}").WithContext(ctx))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the caller leave")
	}
}

// A body read blocked on the upstream returns when the caller cancels,
// with the cancellation's cause when it has one, as net/http returns it.
func TestCancelMidBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	for _, cause := range []error{nil, errors.New("idle gap")} {
		ctx, cancel := context.WithCancelCause(context.Background())
		resp, err := tr.RoundTrip(post(t, up.URL, "{}").WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
		want := cause
		if want == nil {
			want = context.Canceled
		}
		if _, err := resp.Body.Read(buf); !errors.Is(err, want) {
			t.Errorf("read after cancel: %v, want %v", err, want)
		}
		_ = resp.Body.Close()
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	tr, _ := newTransport(h1.Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	defer tr.CloseIdleConnections()
	_, err := tr.RoundTrip(post(t, up.URL, "{}"))
	if !errors.Is(err, h1.ErrHeaderTimeout) {
		t.Fatalf("err %v, want ErrHeaderTimeout", err)
	}
	// A timeout, as net/http's is: the router fails over on it.
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("%v is not a net.Error timeout", err)
	}
}

// rawUpstream serves each connection with fn, on loopback.
func rawUpstream(t *testing.T, fn func(n int, c net.Conn)) (url string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int32{}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(conns.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				fn(n, c)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), conns
}

// readRequest reads one request and its body off c.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
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

// A body longer than its Content-Length is refused before its excess is
// written: the upstream never reads a second request from it.
func TestLongerBodyIsNotSmuggled(t *testing.T) {
	lines := make(chan string, 8)
	url, _ := rawUpstream(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			lines <- req.Method + " " + req.RequestURI
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	const declared = 5000
	body := strings.Repeat("a", declared) + "GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n" + strings.Repeat("z", 8<<10)
	req := post(t, url+"/v1/chat/completions", body)
	req.ContentLength = declared
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	if resp, err := tr.RoundTrip(req); err == nil {
		_ = resp.Body.Close()
		t.Error("a body longer than its Content-Length was sent")
	}
	time.Sleep(200 * time.Millisecond)
	close(lines)
	for l := range lines {
		if strings.Contains(l, "smuggled") {
			t.Errorf("the upstream read %q", l)
		}
	}
}

// A request line is never split, and a request never announces a body it
// does not send.
func TestMalformedRequestsSendNothing(t *testing.T) {
	var received atomic.Int32
	url, _ := rawUpstream(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err == nil {
			received.Add(1)
		}
	})
	tr, _ := newTransport(h1.Options{})
	injected, _ := http.NewRequest(http.MethodGet, url+"/v1/models", nil)
	injected.URL.RawQuery = "x=1 HTTP/1.1\r\nX-Injected: yes\r\nX-Pad: z"
	phantom, _ := http.NewRequest(http.MethodPost, url, nil)
	phantom.ContentLength = 10
	for _, req := range []*http.Request{injected, phantom} {
		if _, err := tr.RoundTrip(req); err == nil {
			t.Errorf("%s %q was sent", req.Method, req.URL.RawQuery)
		}
	}
	tr.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	if n := received.Load(); n != 0 {
		t.Errorf("the upstream read %d requests, want none", n)
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

// A value that would end its header line is refused before anything is
// written: nothing reaches the upstream.
func TestHeaderInjectionIsRefused(t *testing.T) {
	url, conns := rawUpstream(t, func(_ int, c net.Conn) {
		_, _, _ = readRequest(bufio.NewReader(c))
	})
	tr, _ := newTransport(h1.Options{})
	for _, set := range []func(h http.Header){
		func(h http.Header) { h["Anthropic-Version"] = []string{"2023-06-01\r\nX-Injected: 1"} },
		func(h http.Header) { h["X-Bad\r\nName"] = []string{"v"} },
		func(h http.Header) { h["Authorization"] = []string{"Bearer sk-secret\n"} },
	} {
		req := post(t, url, "{}")
		set(req.Header)
		_, err := tr.RoundTrip(req)
		if err == nil {
			t.Fatal("a header with a line break was sent")
		}
		if strings.Contains(err.Error(), "sk-secret") {
			t.Errorf("the error quotes a header value: %v", err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the upstream, want none", n)
	}
}

func TestFallbackServesWhatH1DoesNot(t *testing.T) {
	tr, fb := newTransport(h1.Options{})
	unknownLength, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", io.NopCloser(strings.NewReader("x")))
	tls, _ := http.NewRequest(http.MethodPost, "https://api.example/v1", strings.NewReader("x"))
	upgrade, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/ws", nil)
	upgrade.Header.Set("Upgrade", "websocket")
	expect := post(t, "http://127.0.0.1:1/", "x")
	expect.Header.Set("Expect", "100-continue")
	large := post(t, "http://127.0.0.1:1/", strings.Repeat("x", 1<<20+1))
	for _, req := range []*http.Request{unknownLength, tls, upgrade, expect, large} {
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != 299 {
			t.Errorf("%s %s: %v, not served by the fallback", req.Method, req.URL, err)
		}
	}
	if len(fb.got) != 5 {
		t.Errorf("fallback got %d requests, want 5", len(fb.got))
	}
}

// cannedCase is a response an upstream might send, byte for byte.
type cannedCase struct {
	name, raw string
	status    int    // 0: RoundTrip must fail
	body      string // what the body reads to
	bodyErr   bool   // the body read must fail
	reuse     bool   // the connection may carry the next request
}

var cannedCases = []cannedCase{
	{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello", reuse: true},
	{name: "chunked with extension and trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", status: 200, body: "hello world", reuse: true},
	{name: "interim answer skipped", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", reuse: true},
	{name: "repeated equal lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", reuse: true},
	{name: "a list of lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"},
	{name: "no content", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, reuse: true},
	{name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
	{name: "HTTP/1.0 until close", raw: "HTTP/1.0 200 OK\r\n\r\nuntil the end", status: 200, body: "until the end"},
	{name: "both framings", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", status: 200, body: "ok"},
	{name: "LF line ends", raw: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", status: 200, body: "ok", reuse: true},
	{name: "error status", raw: "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}", status: 429, body: "{}", reuse: true},
	{name: "HTTP/2 status line", raw: "HTTP/2.0 200 OK\r\n\r\n"},
	{name: "no status code", raw: "HTTP/1.1 OK\r\n\r\n"},
	{name: "four-digit status", raw: "HTTP/1.1 2000 OK\r\n\r\n"},
	{name: "header without colon", raw: "HTTP/1.1 200 OK\r\nX-Bad\r\nContent-Length: 0\r\n\r\n"},
	{name: "space before colon", raw: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"},
	{name: "folded header", raw: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
	{name: "control byte in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
	{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk"},
	{name: "negative length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
	{name: "gzip transfer coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
	{name: "switching protocols", raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"},
	{name: "header line longer than the read buffer", raw: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 8<<10) + "\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", reuse: true},
	{name: "headers too long", raw: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 300<<10) + "\r\n\r\n"},
	{name: "chunk size then space", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n", status: 200, bodyErr: true},
	{name: "truncated length body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", status: 200, bodyErr: true},
	{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", status: 200, bodyErr: true},
	{name: "chunk without its CRLF", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", status: 200, bodyErr: true},
	{name: "huge chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx", status: 200, bodyErr: true},
	{name: "truncated chunked body", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", status: 200, bodyErr: true},
}

// Each canned answer is read as HTTP says, or refused; a connection whose
// answer was refused, or that says it closes, carries nothing more.
func TestCannedResponses(t *testing.T) {
	for _, tc := range cannedCases {
		t.Run(tc.name, func(t *testing.T) {
			const next = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
			url, conns := rawUpstream(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				if _, _, err := readRequest(br); err != nil {
					return
				}
				if n > 1 {
					_, _ = io.WriteString(c, next)
					return
				}
				_, _ = io.WriteString(c, tc.raw)
				if !tc.reuse {
					return
				}
				if _, _, err := readRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, next)
			})
			tr, _ := newTransport(h1.Options{})
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(post(t, url, "{}"))
			if tc.status == 0 {
				if err == nil {
					t.Fatalf("accepted: status %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if tc.bodyErr != (err != nil) {
				t.Fatalf("body %q, err %v", b, err)
			}
			if !tc.bodyErr && string(b) != tc.body {
				t.Errorf("body %q, want %q", b, tc.body)
			}
			resp, err = tr.RoundTrip(post(t, url, "{}"))
			if err != nil {
				t.Fatalf("next request: %v", err)
			}
			readAll(t, resp)
			if want := map[bool]int32{true: 1, false: 2}[tc.reuse]; conns.Load() != want {
				t.Errorf("%d connections for two requests, want %d", conns.Load(), want)
			}
		})
	}
}

// What the transport writes parses, with net/http's own reader, to the
// request it was given.
func TestWrittenRequestParses(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	url, _ := rawUpstream(t, func(_ int, c net.Conn) {
		req, body, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		got <- req
		bodies <- body
		_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	body := strings.Repeat(`{"k":"v"}`, 2000) // larger than the write buffer
	req := post(t, url+"/v1/messages?beta=true", body)
	req.Header["X-Multi"] = []string{"a", " b "}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	r := <-got
	if r.URL.RequestURI() != "/v1/messages?beta=true" || r.ContentLength != int64(len(body)) || <-bodies != body {
		t.Errorf("upstream got %s, length %d", r.URL.RequestURI(), r.ContentLength)
	}
	if v := r.Header.Values("X-Multi"); len(v) != 2 || v[0] != "a" || v[1] != "b" {
		t.Errorf("X-Multi %q", v)
	}
	empty, _ := http.NewRequest(http.MethodGet, url+"/v1/models", nil)
	url2, _ := rawUpstream(t, func(_ int, c net.Conn) {
		req, _, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		got <- req
		_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})
	empty.URL.Host = strings.TrimPrefix(url2, "http://")
	empty.Host = ""
	resp, err = tr.RoundTrip(empty)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if r := <-got; r.Method != http.MethodGet || r.ContentLength != 0 || r.Header.Get("Content-Length") != "" {
		t.Errorf("GET arrived as %s with length %d %q", r.Method, r.ContentLength, r.Header.Get("Content-Length"))
	}
}
