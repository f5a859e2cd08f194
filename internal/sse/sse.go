// Package sse reads and writes Server-Sent Events. It reads them as the
// WHATWG event-stream spec frames them (a byte order mark may start the
// stream; lines end in CRLF, LF or a lone CR) and writes them exactly as
// the OpenAI and Anthropic SDKs expect: "event:" and "data:" fields, lines
// ended by LF, every event terminated by a blank line, one flush per event
// so nothing is buffered between the upstream and the client.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/httpx"
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
	br *bufio.Reader
	// buf is what br held when it last read, and lines are cut from
	// buf[off:] without a call into br; the bytes taken are discarded from
	// br only before it reads again. (An offset, not a re-sliced buf: a
	// pointer stored per line costs a GC write barrier.)
	buf     []byte
	off     int
	maxLine int
	name    []byte
	data    []byte
	line    []byte
	// atStart: no line is read yet, so the stream's byte order mark may
	// come (the spec skips one there, and only there).
	atStart bool
	// afterCR: the last line ended in a CR that was the last byte
	// buffered. An LF that starts the next read is the rest of that CRLF,
	// not an empty line of its own.
	afterCR bool
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
	return &Reader{br: br, maxLine: DefaultMaxLine, atStart: true}
}

// MidStream makes r read bytes cut from the middle of a stream (a relay
// parsing one event it split off): a byte order mark at their start is
// then part of the first line, as the spec skips only the stream's own.
func (r *Reader) MidStream() *Reader {
	r.atStart = false
	return r
}

// Release returns the Reader's buffer for reuse; the Reader and any Event
// it returned must not be used afterwards. Release is idempotent.
func (r *Reader) Release() {
	if r.br == nil {
		return
	}
	r.br.Reset(nil) // drop the reference to the stream
	readers.Put(r.br)
	r.br, r.buf, r.off = nil, nil, 0
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
// the upstream finished the second.) It follows Next line by line: a
// block of comments, id or retry fields only is no event, and Next reads
// past it. An LF left by a CRLF split across reads (afterCR) reads here
// as an empty line between events, which changes nothing.
func (r *Reader) EventBuffered() bool {
	b := r.buf[r.off:] // only what is buffered
	if r.atStart {
		b = bytes.TrimPrefix(b, bom) // only before the first Next
	}
	data, named := false, false // what Next has gathered of the event so far
	for {
		n, next, _ := LineEnd(b)
		if next == 0 {
			return false
		}
		line := b[:n]
		b = b[next:]
		if len(line) == 0 {
			if data || named {
				return true
			}
			continue
		}
		field, value, _ := bytes.Cut(line, colon)
		switch string(field) {
		case "data":
			data = true
		case "event":
			named = len(bytes.TrimPrefix(value, space)) > 0
		}
	}
}

var (
	bom   = []byte("\xEF\xBB\xBF") // UTF-8 byte order mark
	colon = []byte(":")
	space = []byte(" ")
)

// LineEnd finds the end of the first line in b. The spec ends a line at
// CRLF, LF or a lone CR: the line is b[:n], and the next one starts at
// b[next:]; next is 0 when b holds no line end yet. lone reports a line
// ended by a CR that no LF follows in b — a lone CR, or a CR that is b's
// last byte, whose LF may be yet to come: clients that split lines at LF
// alone (openai-go's bufio.Scanner) would misread it.
func LineEnd(b []byte) (n, next int, lone bool) {
	switch { // the empty line that ends an event
	case len(b) > 0 && b[0] == '\n':
		return 0, 1, false
	case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
		return 0, 2, false
	}
	i := bytes.IndexByte(b, '\n')
	head := b // where a CR would end the line first
	if i >= 0 {
		head = b[:i]
	}
	j := bytes.IndexByte(head, '\r')
	switch {
	case j < 0 && i < 0:
		return 0, 0, false
	case j < 0:
		return i, i + 1, false
	case j == i-1:
		return j, i + 1, false // CRLF
	default:
		return j, j + 1, true
	}
}

// readLine returns one line without its end (CRLF, LF or a lone CR: see
// LineEnd). A CR that is the last byte buffered ends its line at once
// rather than wait on the upstream for the byte after it; an LF that
// starts the next read then finishes that CRLF (afterCR).
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for seen := 0; ; { // the first seen bytes not taken hold no line end
		if len(r.buf)-r.off <= seen {
			if err := r.fill(seen); err != nil {
				if errors.Is(err, io.EOF) && (seen > 0 || len(r.line) > 0) {
					return nil, io.ErrUnexpectedEOF // a line without its end is a cut stream
				}
				return nil, err
			}
		}
		if r.atStart || r.afterCR {
			if r.lead() {
				seen = len(r.buf) - r.off
				continue
			}
			seen = 0
		}
		b := r.buf[r.off:]
		n, next, _ := LineEnd(b[seen:])
		if next > 0 {
			return r.take(b, seen+n, seen+next)
		}
		seen = len(b)
		if seen == r.br.Size() {
			// A line longer than the buffer: keep what is here, read on.
			r.line = append(r.line, b...)
			r.off += seen
			seen = 0
			if len(r.line) > r.maxLine {
				return nil, ErrLineTooLong
			}
		}
	}
}

// fill reads from the stream until more than seen bytes not taken are
// buffered, which it keeps.
func (r *Reader) fill(seen int) error {
	_, _ = r.br.Discard(r.off) // never reads: the bytes are buffered
	r.off = 0
	_, err := r.br.Peek(seen + 1)
	r.buf, _ = r.br.Peek(r.br.Buffered()) // never reads
	return err
}

// lead takes what comes before a line without being part of it: the
// stream's byte order mark, or the LF of a CRLF whose CR ended the last
// line. It reports whether the bytes buffered could still be the start of
// a byte order mark (then more must be read to tell).
func (r *Reader) lead() (wait bool) {
	b := r.buf[r.off:]
	if r.atStart {
		if len(b) < len(bom) && bytes.HasPrefix(bom, b) {
			return true
		}
		r.atStart = false
		if bytes.HasPrefix(b, bom) {
			r.off += len(bom)
			b = b[len(bom):]
		}
	}
	if r.afterCR && len(b) > 0 {
		r.afterCR = false
		if b[0] == '\n' {
			r.off++
		}
	}
	return false
}

// take takes the line b[:n] (with the bytes of a line longer than the
// buffer gathered before it) and its end, up to next, from b, the bytes
// not taken. A whole line in the buffer, the common case, is not copied:
// it stays valid until the next read, which is all callers need.
func (r *Reader) take(b []byte, n, next int) ([]byte, error) {
	line := b[:n]
	r.afterCR = next == len(b) && b[n] == '\r'
	r.off += next
	if len(r.line) > 0 {
		r.line = append(r.line, line...)
		line = r.line
	}
	if len(line) > r.maxLine {
		return nil, ErrLineTooLong
	}
	return line, nil
}

// Writer frames events onto an http.ResponseWriter and flushes each one.
// It is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	flush func() error // nil when w cannot flush
	buf   []byte
	guard *httpx.WriteGuard // checked before each write and flush; nil when none
}

// NewWriter returns a Writer over w. Callers set the response headers
// (SetHeaders) and the status before the first event.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, flush: flusher(w)}
}

// Guard has g checked before each write and flush (see httpx.WriteGuard):
// a client that stops reading cannot block the writer for longer than g's
// bound. The check is one atomic load; g renews its deadline coarsely.
func (w *Writer) Guard(g *httpx.WriteGuard) { w.guard = g }

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
	w.guard.Check()
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return nil
}

// WriteRaw writes bytes that are already complete SSE events (a relay
// forwarding what an upstream framed) without flushing them.
func (w *Writer) WriteRaw(b []byte) error {
	w.guard.Check()
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
	w.guard.Check()
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
