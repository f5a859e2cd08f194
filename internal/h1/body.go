package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// framing is how a response body is delimited.
type framing struct {
	kind int   // noBody, byLength, chunked, byClose
	n    int64 // byLength: the body's length
}

const (
	noBody = iota
	byLength
	chunked
	byClose
)

// errBodyClosed is what a read after Close returns, as net/http words it.
var errBodyClosed = errors.New("http: read on closed response body")

// body reads one response body from its connection and, at its end,
// returns the connection to the pool. Close may run concurrently with a
// Read (a drain timer closes a body another goroutine reads): it only
// closes the socket, which makes that Read return.
type body struct {
	c      *conn
	stop   func() bool // unregisters the cancellation hook
	kind   int
	remain int64 // byLength: bytes left; chunked: bytes left in this chunk
	crlf   bool  // chunked: a chunk's data ended, its CRLF is next
	keep   bool
	err    error       // sticky, for the reading goroutine only
	done   atomic.Bool // the connection was released or closed
}

func (c *conn) body(resp *http.Response, fr framing, stop func() bool) io.ReadCloser {
	b := &body{c: c, stop: stop, kind: fr.kind, remain: fr.n, keep: !resp.Close}
	if fr.kind == noBody || fr.kind == byLength && fr.n == 0 {
		b.release()
		return http.NoBody
	}
	return b
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done.Load() {
		return 0, errBodyClosed
	}
	var n int
	var err error
	switch b.kind {
	case byLength:
		n, err = b.readLength(p)
	case chunked:
		n, err = b.readChunked(p)
	default:
		n, err = b.c.br.Read(p)
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		b.err = io.EOF
		b.release()
	default:
		b.err = b.failure(err)
		if b.done.CompareAndSwap(false, true) {
			b.stop()
			b.c.closeConn()
		}
	}
	return n, b.err
}

// failure names a read error: the caller's cancellation (its cause), a
// Close from another goroutine, or the upstream's fault.
func (b *body) failure(err error) error {
	if cause := b.c.ctxErr(); cause != nil {
		return cause
	}
	if b.done.Load() {
		return errBodyClosed
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Close implements io.Closer: a body not read to its end takes its
// connection with it.
func (b *body) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.stop()
		b.c.closeConn()
	}
	return nil
}

// release hands the connection back at the body's end: to the pool when
// the upstream keeps it alive and the caller did not cancel meanwhile.
func (b *body) release() {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	// Bytes already read past the answer's end are no one's answer: the
	// connection goes with them, or the next caller would read them.
	if b.stop() && b.keep && b.kind != byClose && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.closeConn()
}

func (b *body) readLength(p []byte) (int, error) {
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.c.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		return n, io.EOF
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readChunked fills p from as many chunks as are already buffered, and
// blocks only while it holds nothing to return (as net/http's chunked
// reader does): an event is relayed as soon as it arrives, and the last
// one comes with io.EOF when the terminating chunk arrived with it.
func (b *body) readChunked(p []byte) (int, error) {
	br := b.c.br
	n := 0
	for n < len(p) {
		if b.remain > 0 {
			if n > 0 && br.Buffered() == 0 {
				break
			}
			q := p[n:]
			if int64(len(q)) > b.remain {
				q = q[:b.remain]
			}
			m, err := br.Read(q)
			n += m
			b.remain -= int64(m)
			b.crlf = b.remain == 0
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			continue
		}
		if b.crlf {
			if n > 0 && br.Buffered() < 2 {
				break
			}
			if err := chunkEnd(br); err != nil {
				return n, err
			}
			b.crlf = false
		}
		if n > 0 && !lineBuffered(br) {
			break
		}
		size, err := chunkSize(br)
		if err != nil {
			return n, err
		}
		if size == 0 {
			budget := maxHeaderBytes
			return n, skipTrailers(br, &budget)
		}
		b.remain = size
	}
	return n, nil
}

func lineBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

func chunkEnd(br *bufio.Reader) error {
	var two [2]byte
	if _, err := io.ReadFull(br, two[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if two != [2]byte{'\r', '\n'} {
		return fmt.Errorf("%w: bad chunk end", errMalformed)
	}
	return nil
}

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4 << 10

// chunkSize reads "HEX[;ext]" and returns the chunk's length.
func chunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if len(line) > maxChunkLine || errors.Is(err, bufio.ErrBufferFull) {
		return 0, fmt.Errorf("%w: chunk size line too long", errMalformed)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	// A bare LF ends no chunk line (as net/http reads them): a reader that
	// took it would frame the body differently from one that does not.
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, fmt.Errorf("%w: chunk size line without CRLF", errMalformed)
	}
	// As net/http reads it: whitespace may end the line, an extension may
	// follow the size, and nothing else may (not "5 ;x", not a CR inside).
	line = bytes.TrimRight(line[:len(line)-2], " \t")
	if bytes.IndexByte(line, '\r') >= 0 {
		return 0, fmt.Errorf("%w: CR in chunk size line", errMalformed)
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, fmt.Errorf("%w: bad chunk size", errMalformed)
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: bad chunk size", errMalformed)
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

// skipTrailers reads the trailer section after the last chunk. Its fields
// are not used; each must still be a well-formed, CRLF-ended field, as
// net/http requires. It returns io.EOF at its end.
func skipTrailers(br *bufio.Reader, budget *int) error {
	var scratch http.Header
	for {
		line, err := br.ReadSlice('\n')
		*budget -= len(line)
		if *budget < 0 || errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%w: trailer too long", errMalformed)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return fmt.Errorf("%w: trailer line without CRLF", errMalformed)
		}
		if len(line) == 2 {
			return io.EOF
		}
		if scratch == nil {
			scratch = http.Header{}
		}
		if err := addHeader(scratch, line[:len(line)-2]); err != nil {
			return err
		}
	}
}
