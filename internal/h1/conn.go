package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// conn is one upstream connection, owned by one request at a time.
type conn struct {
	t      *Transport
	addr   string
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
	reused bool
	ctx    context.Context // the request's, while one owns the connection
	// timedOut is set by the response-header timer before it closes nc.
	timedOut atomic.Bool
}

func (c *conn) closeConn() { _ = c.nc.Close() }

func (c *conn) ctxErr() error { return c.ctx.Err() }

// roundTrip writes req and reads the answer's head. On success the
// response body owns c until it ends.
func (c *conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c.ctx = ctx
	if err := ctx.Err(); err != nil {
		c.closeConn()
		return nil, err
	}
	// A cancelled request closes its connection: a blocked write or read
	// returns at once, and the upstream sees the caller leave.
	stop := context.AfterFunc(ctx, c.closeConn)
	fail := func(err error) (*http.Response, error) {
		stop()
		c.closeConn()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if c.timedOut.Load() {
			return nil, ErrHeaderTimeout
		}
		return nil, err
	}
	if err := c.writeRequest(req); err != nil {
		if c.reused {
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return fail(err)
	}
	var timer *time.Timer
	if d := c.t.o.ResponseHeaderTimeout; d > 0 {
		timer = time.AfterFunc(d, func() { c.timedOut.Store(true); c.closeConn() })
	}
	resp, fr, err := c.readResponse(req)
	if timer != nil && !timer.Stop() {
		err = ErrHeaderTimeout
	}
	if err != nil {
		return fail(err)
	}
	resp.Body = c.body(resp, fr, stop)
	return resp, nil
}

// writeRequest sends the request line, headers and body in one flush
// when they fit the buffer.
func (c *conn) writeRequest(req *http.Request) error {
	bw := c.bw
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	_, _ = bw.WriteString(method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.URL.RequestURI())
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(host)
	_, _ = bw.WriteString("\r\n")
	for k, vv := range req.Header {
		if skipHeader(k) {
			continue
		}
		for _, v := range vv {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(trimOWS(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody || methodSendsLength(method) {
		_, _ = bw.WriteString("Content-Length: ")
		var n [20]byte
		_, _ = bw.Write(strconv.AppendInt(n[:0], req.ContentLength, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if hasBody {
		n, err := io.Copy(bw, req.Body)
		_ = req.Body.Close()
		if err != nil {
			return fmt.Errorf("h1: read request body: %w", err)
		}
		if n != req.ContentLength {
			return fmt.Errorf("h1: request body was %d bytes, Content-Length %d", n, req.ContentLength)
		}
	}
	return bw.Flush()
}

// methodSendsLength: a POST, PUT or PATCH without a body still says
// Content-Length: 0, as net/http does.
func methodSendsLength(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// skipHeader names the headers this transport writes itself, in any
// case: a second Content-Length from the header map would let the
// upstream read two different bodies.
func skipHeader(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 7:
		return strings.EqualFold(k, "Trailer")
	case 10:
		return strings.EqualFold(k, "Connection")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// trimOWS drops the whitespace HTTP ignores around a value, as net/http
// writes it.
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// validRequest refuses what would let a value break out of its header:
// net/http refuses the same before writing anything.
func validRequest(req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return errors.New("h1: invalid Host header")
	}
	if req.Method != "" && !validMethod(req.Method) {
		return fmt.Errorf("h1: invalid method %q", req.Method)
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("h1: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				// The value is not quoted: it may be a credential.
				return fmt.Errorf("h1: invalid header field value for %q", k)
			}
		}
	}
	return nil
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// stale reports an error that means the upstream had closed a pooled
// connection before answering: end of stream or a reset at the first byte.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
