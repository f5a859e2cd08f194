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

// ctxErr is the request's cancellation cause, nil while it runs.
func (c *conn) ctxErr() error {
	if c.ctx.Err() == nil {
		return nil
	}
	return context.Cause(c.ctx)
}

// roundTrip writes req and reads the answer's head. On success the
// response body owns c until it ends.
func (c *conn) roundTrip(req *http.Request) (*http.Response, error) {
	c.ctx = req.Context()
	// A cancelled request closes its connection: a blocked write or read
	// returns at once, and the upstream sees the caller leave.
	stop := context.AfterFunc(c.ctx, c.closeConn)
	fail := func(err error) (*http.Response, error) {
		stop()
		c.closeConn()
		if cause := c.ctxErr(); cause != nil {
			return nil, cause
		}
		if c.timedOut.Load() {
			return nil, ErrHeaderTimeout
		}
		return nil, err
	}
	if err := c.writeRequest(req); err != nil {
		// A pooled connection the upstream had closed fails the write:
		// the request never arrived whole, and may go again.
		var se socketError
		if c.reused && errors.As(err, &se) {
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

// socketError is a failed write to the connection, as against a failure
// of the request's own body.
type socketError struct{ err error }

func (e socketError) Error() string { return e.err.Error() }
func (e socketError) Unwrap() error { return e.err }

// writeRequest sends the request line, headers and body, in one flush
// when they fit the buffer. Nothing reaches the connection before the
// request line is checked, and no more body than Content-Length ever
// does: the excess of a longer body fails the request before its last
// flush, as net/http fails it.
func (c *conn) writeRequest(req *http.Request) error {
	uri := req.URL.RequestURI()
	if !validRequestURI(uri) {
		return errors.New("h1: invalid request URI")
	}
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
	_, _ = bw.WriteString(uri)
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
		n := req.ContentLength
		if !hasBody {
			n = 0
		}
		_, _ = bw.WriteString("Content-Length: ")
		var digits [20]byte
		_, _ = bw.Write(strconv.AppendInt(digits[:0], n, 10))
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if hasBody {
		err := c.writeBody(req.Body, req.ContentLength)
		_ = req.Body.Close()
		if err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return socketError{err}
	}
	return nil
}

// writeBody copies exactly n bytes of body through the write buffer and
// checks that the body has no more.
func (c *conn) writeBody(body io.Reader, n int64) error {
	bw := c.bw
	for n > 0 {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return socketError{err}
			}
		}
		p := bw.AvailableBuffer()[:min(int64(bw.Available()), n)]
		m, err := body.Read(p)
		_, _ = bw.Write(p[:m])
		n -= int64(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("h1: read request body: %w", err)
		}
	}
	if n > 0 {
		return fmt.Errorf("h1: request body %d bytes short of its Content-Length", n)
	}
	var one [1]byte
	if m, _ := io.ReadFull(body, one[:]); m > 0 {
		return errors.New("h1: request body longer than its Content-Length")
	}
	return nil
}

// validRequestURI refuses a request target that would end or split the
// request line: a control byte or a space (a raw query is written as set).
func validRequestURI(uri string) bool {
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return uri != ""
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
	if req.ContentLength > 0 && (req.Body == nil || req.Body == http.NoBody) {
		return fmt.Errorf("h1: Content-Length %d with no body", req.ContentLength)
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

// resendable reports whether req may be sent a second time after a
// pooled connection gave no byte of answer to it: the upstream may have
// carried it out, so only a method safe to repeat, or a request that
// names its idempotency key, is — the rule net/http follows. A billed
// LLM call is a POST: the router decides whether it is tried again.
func resendable(req *http.Request, err error) bool {
	if !stale(err) {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// stale reports an error that means the upstream had closed the
// connection: end of stream or a reset at the first byte.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
