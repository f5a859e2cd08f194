package h1_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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
