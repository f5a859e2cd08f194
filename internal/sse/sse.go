// Package sse reads and writes Server-Sent Events framed exactly as the
// OpenAI and Anthropic SDKs expect: "event:" and "data:" fields, every event
// terminated by a blank line, one flush per event so nothing is buffered
// between the upstream and the client.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// ErrLineTooLong is returned by Reader.Next when a single line exceeds the
// reader's limit; the stream is then unusable.
var ErrLineTooLong = errors.New("sse: line too long")

// DefaultMaxLine bounds one SSE line (and so one event's data) so a hostile
// or broken upstream cannot make the gateway buffer without limit.
const DefaultMaxLine = 8 << 20

// Event is one dispatched SSE event. Data holds the data lines joined by
// "\n". Name is empty for unnamed events (OpenAI). The slices are only valid
// until the next call to Reader.Next.
type Event struct {
	Name []byte
	Data []byte
}

// Reader parses an SSE stream. It is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	maxLine int
	name    []byte
	data    []byte
	line    []byte
}

// readBuffer sizes the Reader's buffer. Lines longer than it are
// assembled in Reader.line (up to maxLine), so it bounds no event; it only
// needs to hold a typical burst. A reader is made per streamed response:
// 32 KiB here was a third of all bytes the gateway allocated per stream
// and showed up as GC time under load; 4 KiB (bufio's default, the same as
// the transport's own connection buffer beneath it) holds a burst of ~20
// OpenAI chunks.
const readBuffer = 4 << 10

// readers recycles the buffers of released Readers: one stream's 4 KiB
// was otherwise the largest allocation of a streamed request.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBuffer) }}

// NewReader returns a Reader over r with lines bounded by DefaultMaxLine.
// Call Release when done with it.
func NewReader(r io.Reader) *Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &Reader{br: br, maxLine: DefaultMaxLine}
}

// Release returns the Reader's buffer for reuse; the Reader and any Event
// it returned must not be used afterwards. Release is idempotent.
func (r *Reader) Release() {
	if r.br == nil {
		return
	}
	r.br.Reset(nil) // drop the reference to the stream
	readers.Put(r.br)
	r.br = nil
}

// Next returns the next event. It returns io.EOF when the stream ends
// cleanly between events and io.ErrUnexpectedEOF when it ends inside one
// (a truncated event is never dispatched). Comment lines and the id and
// retry fields are skipped: the gateway neither needs nor forwards them.
func (r *Reader) Next() (Event, error) {
	r.name, r.data = r.name[:0], r.data[:0]
	started, hasData := false, false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && started {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !started {
				continue // stray blank lines between events
			}
			if !hasData && len(r.name) == 0 {
				started = false
				continue
			}
			return Event{Name: r.name, Data: r.data}, nil
		}
		started = true
		if line[0] == ':' {
			continue // comment (keep-alive)
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			r.name = append(r.name[:0], value...)
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
			if len(r.data) > r.maxLine {
				return Event{}, ErrLineTooLong
			}
		}
	}
}

// EventBuffered reports whether a whole event is already read from the
// stream, so that Next returns it without waiting for the upstream. When
// it is false a relay must flush what it has written: every complete
// event then leaves before the relay waits again, and a burst costs one
// write. (Buffered bytes alone said too little: a read that completed
// one event and brought the start of the next held the first back until
// the upstream finished the second.) A block of comments, id or retry
// fields only is no event: Next reads past it (see dispatches).
func (r *Reader) EventBuffered() bool {
	b, _ := r.br.Peek(r.br.Buffered()) // never reads: only what is buffered
	for {
		end, next := blankLine(b)
		if end < 0 {
			return false
		}
		if dispatches(b[:end]) {
			return true
		}
		b = b[next:]
	}
}

// blankLine finds the first empty line in b: end is where the block before
// it ends, next where the bytes after it start; end is -1 when b holds no
// empty line. Lines end in "\n" or "\r\n".
func blankLine(b []byte) (end, next int) {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, 0
		}
		start := i + j + 1 // start of the next line
		switch rest := b[start:]; {
		case len(rest) > 0 && rest[0] == '\n':
			return start, start + 1
		case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
			return start, start + 2
		}
		i = start
	}
}

// dispatches reports whether Next returns an event for a block (the lines
// before an empty line): one with a data field, or whose last event field
// names one. Comments, id and retry fields alone are read past.
func dispatches(block []byte) bool {
	named := false
	for len(block) > 0 {
		line, rest, _ := bytes.Cut(block, nl)
		line = bytes.TrimSuffix(line, cr)
		field, value, _ := bytes.Cut(line, colon)
		switch string(field) {
		case "data":
			return true
		case "event":
			value = bytes.TrimPrefix(value, space)
			named = len(value) > 0
		}
		block = rest
	}
	return named
}

var (
	nl    = []byte("\n")
	cr    = []byte("\r")
	colon = []byte(":")
	space = []byte(" ")
)

// readLine returns one line without its terminator ("\n" or "\r\n").
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil && len(r.line) == 0 {
			// A whole line in the buffer (the common case): no copy. It
			// stays valid until the next read, which is all callers need.
			return trimEOL(chunk), nil
		}
		r.line = append(r.line, chunk...)
		if len(r.line) > r.maxLine {
			return nil, ErrLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return nil, io.ErrUnexpectedEOF // a line without its newline is a cut stream
			}
			return nil, err
		}
		return trimEOL(r.line), nil
	}
}

// trimEOL drops a line's "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// Writer frames events onto an http.ResponseWriter and flushes each one.
// It is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	flush func() error // nil when w cannot flush
	buf   []byte
}

// NewWriter returns a Writer over w. Callers set the response headers
// (SetHeaders) and the status before the first event.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, flush: flusher(w)}
}

// flusher finds how to flush w as http.ResponseController does — the
// first writer in the Unwrap chain with FlushError or Flush — once per
// stream rather than once per flush.
func flusher(w http.ResponseWriter) func() error {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }:
			return t.FlushError
		case http.Flusher:
			return func() error { t.Flush(); return nil }
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// SetHeaders sets the headers every SSE response carries, including the
// hint that stops reverse proxies such as nginx from buffering the stream.
func SetHeaders(h http.Header) {
	h["Content-Type"] = contentType
	h["Cache-Control"] = noCache
	h["X-Accel-Buffering"] = noBuffering
}

// The SSE header values are shared by every response, assigned under
// their canonical names: the server only reads response headers, and
// Header.Set/Add replace or append (a full one-element slice is copied on
// append), so no response can change another's.
var (
	contentType = []string{"text/event-stream; charset=utf-8"}
	noCache     = []string{"no-cache"}
	noBuffering = []string{"no"}
)

// Event writes one event ("event: name" when name is non-empty, one "data:"
// line per line of data, then a blank line) and flushes it.
func (w *Writer) Event(name, data []byte) error {
	if err := w.Write(name, data); err != nil {
		return err
	}
	return w.Flush()
}

// Write frames one event without flushing it. A relay that knows more
// events are already waiting writes them all and flushes once, so nothing
// is held back while the upstream is quiet yet bursts cost one syscall.
func (w *Writer) Write(name, data []byte) error {
	w.buf = AppendEvent(w.buf[:0], name, data)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return nil
}

// WriteRaw writes bytes that are already complete SSE events (a relay
// forwarding what an upstream framed) without flushing them.
func (w *Writer) WriteRaw(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return nil
}

// Flush sends everything written so far to the client.
func (w *Writer) Flush() error {
	if w.flush == nil {
		return nil
	}
	if err := w.flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("sse: flush: %w", err)
	}
	return nil
}

// AppendEvent appends the wire form of one event to dst and returns it.
func AppendEvent(dst, name, data []byte) []byte {
	if len(name) > 0 {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
	return append(dst, '\n', '\n')
}
