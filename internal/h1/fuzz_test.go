package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// parseTransport pools what parse reads to its end; one idle connection
// at most, so a long fuzz run holds nothing.
var parseTransport = New(Options{MaxIdlePerHost: 1})

// parse reads raw as the answer to a POST, the way a connection does.
func parse(raw []byte) (*http.Response, []byte, error) {
	a, b := net.Pipe()
	_ = b.Close()
	c := &conn{t: parseTransport, nc: a, br: bufio.NewReader(bytes.NewReader(raw)), ctx: context.Background()}
	req, _ := http.NewRequest(http.MethodPost, "http://upstream/", nil)
	resp, fr, err := c.readResponse(req)
	if err != nil {
		return nil, nil, err
	}
	resp.Body = c.body(resp, fr, func() bool { return true })
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// FuzzReadResponse holds the response reader to net/http's: whatever it
// accepts, net/http reads to the same status, headers and body. It may
// refuse more (folded lines, unknown transfer codings), never less.
func FuzzReadResponse(f *testing.F) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: t\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n12\r\ndata: {\"a\":\"b\"}\n\n\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200\r\nX-A:  a b \r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x \r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if bytes.HasPrefix(raw, []byte("HTTP/1.1 1")) || bytes.HasPrefix(raw, []byte("HTTP/1.0 1")) {
			return // interim answers are skipped here, by the transport in net/http
		}
		resp, body, err := parse(raw)
		if err != nil {
			return
		}
		req, _ := http.NewRequest(http.MethodPost, "http://upstream/", nil)
		want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
		if err != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", err, raw)
		}
		wantBody, err := io.ReadAll(want.Body)
		if err != nil {
			t.Fatalf("read a body net/http cannot (%v): %q", err, raw)
		}
		if resp.StatusCode != want.StatusCode || !bytes.Equal(body, wantBody) {
			t.Fatalf("status %d body %q, net/http %d %q, for %q", resp.StatusCode, body, want.StatusCode, wantBody, raw)
		}
		for k, v := range resp.Header {
			if k == "Content-Length" {
				continue // net/http keeps what was sent; this, the value read
			}
			if strings.Join(v, "\x00") != strings.Join(want.Header[k], "\x00") {
				t.Fatalf("header %s %q, net/http %q, for %q", k, v, want.Header[k], raw)
			}
		}
	})
}

// FuzzWriteRequest holds the request writer to net/http's reader: a
// header value either is refused or arrives as sent, and no value adds a
// header or changes the body.
func FuzzWriteRequest(f *testing.F) {
	f.Add("Anthropic-Version", "2023-06-01", "/v1/messages", []byte(`{"model":"m"}`))
	f.Add("X-A", "a\r\nX-Injected: 1", "/v1/chat/completions?beta=true", []byte("{}"))
	f.Add("Authorization", " Bearer k ", "/", []byte{})
	f.Fuzz(func(t *testing.T, name, value, path string, body []byte) {
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(http.MethodPost, "http://upstream"+path, rd)
		if err != nil || req.URL.Host != "upstream" {
			return
		}
		req.Header[name] = []string{value}
		if validRequest(req) != nil || skipHeader(name) {
			return
		}
		var out bytes.Buffer
		c := &conn{bw: bufio.NewWriter(&out)}
		if err := c.writeRequest(req); err != nil {
			// A refusal (a request target that would split the request
			// line) comes before a byte is written.
			if out.Len() != 0 || c.bw.Buffered() != 0 {
				t.Fatalf("refused (%v) after writing %q", err, out.String())
			}
			return
		}
		got, err := http.ReadRequest(bufio.NewReader(&out))
		if err != nil {
			t.Fatalf("net/http cannot read what was written (%v): %q", err, out.String())
		}
		gotBody, _ := io.ReadAll(got.Body)
		if !bytes.Equal(gotBody, body) || got.URL.RequestURI() != req.URL.RequestURI() {
			t.Fatalf("body %q uri %q, sent %q %q", gotBody, got.URL.RequestURI(), body, req.URL.RequestURI())
		}
		wantHeaders := 1 // the fuzzed one, plus Content-Length
		if len(got.Header) != wantHeaders+1 {
			t.Fatalf("headers %q, want only %q and Content-Length", got.Header, name)
		}
		if v := got.Header.Values(name); len(v) != 1 || v[0] != trimOWS(value) {
			t.Fatalf("%s arrived as %q, sent %q", name, v, value)
		}
	})
}

// An idle connection the upstream closed, sent unasked bytes on, or left
// bytes in the read buffer, is not used again; a quiet one is.
func TestUsableChecksEveryReuse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	tr := New(Options{})
	dial := func(serve func(net.Conn)) *conn {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		serve(sc)
		time.Sleep(20 * time.Millisecond)
		c := &conn{t: tr, nc: nc, br: bufio.NewReader(nc), idleAt: time.Now()}
		t.Cleanup(func() { _ = nc.Close(); _ = sc.Close() })
		return c
	}
	quiet := dial(func(net.Conn) {})
	closed := dial(func(c net.Conn) { _ = c.Close() })
	chatty := dial(func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n")) })
	if !quiet.usable() {
		t.Error("a quiet idle connection was dropped")
	}
	if closed.usable() {
		t.Error("a connection the upstream closed was kept")
	}
	if chatty.usable() {
		t.Error("a connection holding unasked bytes was kept")
	}
	buffered := dial(func(c net.Conn) { _, _ = c.Write([]byte("xy")) })
	if _, err := buffered.br.ReadByte(); err != nil {
		t.Fatal(err)
	}
	if buffered.usable() {
		t.Error("a connection with bytes in its read buffer was kept")
	}
	expired := dial(func(net.Conn) {})
	expired.idleAt = time.Now().Add(-tr.o.IdleTimeout)
	if expired.usable() {
		t.Error("a connection idle past IdleTimeout was kept")
	}
}
