package h1_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/h1"
)

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
