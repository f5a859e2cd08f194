package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// maxHeaderBytes bounds a response's status line and headers together
// (an LLM API sends well under 4 KiB).
const maxHeaderBytes = 256 << 10

// errMalformed reports a response this transport will not interpret.
var errMalformed = errors.New("h1: malformed response from upstream")

// readResponse reads the status line and headers of the answer to req,
// skipping interim (1xx) answers, and decides how its body is framed.
func (c *conn) readResponse(req *http.Request) (*http.Response, framing, error) {
	// The first byte tells a live connection from one the upstream closed
	// while it sat in the pool.
	if _, err := c.br.Peek(1); err != nil {
		if c.reused && resendable(req, err) {
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return nil, framing{}, err
	}
	budget := maxHeaderBytes
	for {
		resp, err := readHead(c.br, &budget)
		if err != nil {
			return nil, framing{}, err
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, framing{}, fmt.Errorf("%w: unrequested protocol switch", errMalformed)
		}
		if resp.StatusCode >= 200 {
			resp.Request = req
			fr, err := frame(resp, req)
			return resp, fr, err
		}
	}
}

// readHead reads one status line and its header block.
func readHead(br *bufio.Reader, budget *int) (*http.Response, error) {
	line, err := readLine(br, budget)
	if err != nil {
		return nil, err
	}
	resp := &http.Response{Header: http.Header{}}
	if err := parseStatus(resp, line); err != nil {
		return nil, err
	}
	for {
		line, err := readLine(br, budget)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			return resp, nil
		}
		if err := addHeader(resp.Header, line); err != nil {
			return nil, err
		}
	}
}

// readLine returns one CRLF- (or LF-) terminated line without its end,
// charging it to budget. A line longer than the read buffer is gathered
// in a copy; otherwise the slice is valid until the next read.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= *budget {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, fmt.Errorf("%w: header too long", errMalformed)
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseStatus reads "HTTP/1.x NNN reason".
func parseStatus(resp *http.Response, line []byte) error {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return fmt.Errorf("%w: bad status line", errMalformed)
	}
	switch string(proto) {
	case "HTTP/1.1":
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return fmt.Errorf("%w: unsupported protocol", errMalformed)
	}
	code, reason, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || !digits(code) {
		return fmt.Errorf("%w: bad status code", errMalformed)
	}
	resp.StatusCode = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	for _, b := range reason {
		if b < ' ' && b != '\t' || b == 0x7f {
			return fmt.Errorf("%w: bad status line", errMalformed)
		}
	}
	resp.Status = string(rest)
	if len(reason) == 0 {
		resp.Status = string(code) + " " + http.StatusText(resp.StatusCode)
	}
	return nil
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// addHeader parses "Name: value". A folded line, a space before the colon
// or a byte HTTP forbids is refused rather than guessed at.
func addHeader(h http.Header, line []byte) error {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 || !httpguts.ValidHeaderFieldName(string(name)) {
		return fmt.Errorf("%w: bad header line", errMalformed)
	}
	v := trimOWS(string(value))
	if !httpguts.ValidHeaderFieldValue(v) {
		return fmt.Errorf("%w: bad header value", errMalformed)
	}
	k := textproto.CanonicalMIMEHeaderKey(string(name))
	h[k] = append(h[k], v)
	return nil
}

// frame decides how the body of resp is delimited, as RFC 9112 §6.3 does:
// no body for HEAD, 1xx, 204 and 304; chunked when Transfer-Encoding says
// so; else Content-Length; else until the upstream closes.
func frame(resp *http.Response, req *http.Request) (framing, error) {
	h := resp.Header
	resp.Close = !keepAlive(resp)
	te, hasTE := h["Transfer-Encoding"]
	if hasTE {
		delete(h, "Transfer-Encoding")
		// HTTP/1.0 has no transfer codings: net/http reads such a body
		// to the close, another reader might not; neither is guessed.
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") || resp.ProtoMinor == 0 {
			return framing{}, fmt.Errorf("%w: unsupported transfer-encoding", errMalformed)
		}
	}
	switch {
	case req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified:
		resp.ContentLength = 0
		if n, ok, err := contentLength(h); err == nil && ok && req.Method == http.MethodHead {
			resp.ContentLength = n
		}
		return framing{kind: noBody}, nil
	case hasTE:
		// Both framings at once: chunked wins, and the connection is not
		// trusted with another request (RFC 9112 §6.3).
		if _, ok, err := contentLength(h); err != nil {
			return framing{}, err
		} else if ok {
			delete(h, "Content-Length")
			resp.Close = true
		}
		resp.TransferEncoding = []string{"chunked"}
		resp.ContentLength = -1
		return framing{kind: chunked}, nil
	}
	n, ok, err := contentLength(h)
	switch {
	case err != nil:
		return framing{}, err
	case ok:
		resp.ContentLength = n
		return framing{kind: byLength, n: n}, nil
	}
	resp.ContentLength = -1
	resp.Close = true
	return framing{kind: byClose}, nil
}

// contentLength reads Content-Length: digits only, and repeated fields
// must be the same text (a list in one field is refused, as net/http
// refuses it).
func contentLength(h http.Header) (int64, bool, error) {
	vv, ok := h["Content-Length"]
	if !ok {
		return 0, false, nil
	}
	first := vv[0]
	if !digits([]byte(first)) || len(first) > 18 {
		return 0, false, fmt.Errorf("%w: bad content-length", errMalformed)
	}
	for _, v := range vv[1:] {
		if v != first {
			return 0, false, fmt.Errorf("%w: conflicting content-length", errMalformed)
		}
	}
	n, _ := strconv.ParseInt(first, 10, 64)
	if len(vv) > 1 {
		h["Content-Length"] = vv[:1]
	}
	return n, true, nil
}

// keepAlive reports whether the connection may carry another request. An
// HTTP/1.1 "Connection: close" is consumed here, as net/http consumes it
// (the response says it in Close).
func keepAlive(resp *http.Response) bool {
	conn := resp.Header["Connection"]
	if resp.ProtoMinor == 0 {
		return httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	if httpguts.HeaderValuesContainsToken(conn, "close") {
		delete(resp.Header, "Connection")
		return false
	}
	return true
}
