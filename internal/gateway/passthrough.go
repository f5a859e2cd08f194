package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/sse"
)

// pass relays an OpenAI stream that no filter rewrites the way a reverse
// proxy copies bytes: each read from the upstream is split into complete
// events, every event is inspected for what accounting and termination
// need (usage, delivered text, [DONE], error events), and the events go
// out as the upstream framed them, in one write per read, flushed when the
// read is consumed. Only the usage chunk the client did not ask for is cut
// out; an event that is not a single data line framed with LF or CRLF
// (comments, named events, multi-line data, lone CRs) is parsed and
// re-framed as the event relay does. It returns nil only when the upstream
// ended properly and every event was written to the client (the last one
// possibly still buffered, see below).
//
// The terminal event is not flushed when the read that brought it also
// brought the body's end and rl.holdEnd allows: net/http then sends it
// with the end of the response (an HTTP/1.1 chunked body's terminator)
// when the handler returns, in one write instead of two — a syscall, and
// a packet, less per stream. It waits for nothing that can block (see
// quietEnd; settle flushes it first if the usage log is backlogged), and
// the write guard's deadline, which stays on the connection, bounds that
// last write too. A client that leaves just then is not seen: its row
// says 200, as a non-streamed answer's would. Over HTTP/2 the upstream's
// body reports its end in a read of its own, so the event is flushed as
// every other one.
func (rl *relayer) pass(body io.Reader) error {
	bp := passBufs.Get().(*[]byte)
	defer passBufs.Put(bp)
	buf, have := *bp, 0
	skip := bom // what the next bytes read may start with that is no part of an event
	for {
		if have == len(buf) {
			if len(buf) >= sse.DefaultMaxLine {
				return fmt.Errorf("read upstream stream: %w", sse.ErrLineTooLong)
			}
			buf = append(buf, make([]byte, len(buf))...) // one event longer than the buffer
		}
		n, rerr := body.Read(buf[have:])
		have += n
		if n > 0 {
			rl.watch.Progress()
			if len(skip) > 0 && have >= len(skip) { // fewer bytes hold no event yet
				if bytes.HasPrefix(buf, skip) {
					have = copy(buf, buf[len(skip):have])
				}
				skip = nil
			}
			used, done, err := rl.passEvents(buf[:have])
			ended := done && errors.Is(rerr, io.EOF)
			if err == nil && used > 0 && (!ended || !rl.holdEnd) { // a read that completed no event wrote nothing
				if ferr := rl.out.Flush(); ferr != nil {
					err = clientGone{ferr}
				}
			}
			if err != nil || done {
				// The read that brought the terminal event often brought the
				// body's end too: then there is nothing left to drain.
				rl.ended = ended
				return err
			}
			if used > 0 && used == have && buf[used-1] == '\r' {
				// The event was re-framed (see span); an LF that starts the
				// next read is the rest of its CRLF, not a blank line to
				// forward.
				skip = lf
			}
			have = copy(buf, buf[used:have])
		}
		switch {
		case errors.Is(rerr, io.EOF):
			return fmt.Errorf("%w: %w", errStreamEnded, io.ErrUnexpectedEOF)
		case rerr != nil:
			return fmt.Errorf("read upstream stream: %w", rerr)
		}
	}
}

// passBufs recycles pass's read buffers (a buffer grown for a long event
// is dropped rather than kept).
var passBufs = sync.Pool{New: func() any { b := make([]byte, passBuffer); return &b }}

const passBuffer = 8 << 10

var (
	bom = []byte("\xEF\xBB\xBF") // the UTF-8 byte order mark, which the spec skips at a stream's start
	lf  = []byte("\n")
)

// passEvents relays the complete events at the start of b and returns how
// many bytes they took, and whether the stream's terminal event was among
// them.
func (rl *relayer) passEvents(b []byte) (used int, done bool, err error) {
	out := 0 // start of the bytes not yet written
	for pos := 0; ; {
		ev, ok := nextEvent(b, pos)
		if !ok {
			return pos, false, rl.raw(b[out:pos])
		}
		data, single := singleData(b, ev)
		if !single {
			// Unusual framing: parse it and re-frame it. The blank lines
			// before it, which carry nothing, are not forwarded.
			if err := rl.raw(b[out:pos]); err != nil {
				return 0, false, err
			}
			if done, err = rl.reframe(b[ev.start:ev.end]); err != nil || done {
				return ev.end, done, err
			}
			pos, out = ev.end, ev.end
			continue
		}
		act, err := rl.inspect(data)
		switch {
		case err != nil:
			return 0, false, errors.Join(err, rl.raw(b[out:ev.start]))
		case act == dropChunk:
			if err := rl.raw(b[out:ev.start]); err != nil {
				return 0, false, err
			}
			out = ev.end
		case act == doneChunk:
			return ev.end, true, rl.raw(b[out:ev.end])
		}
		pos = ev.end
	}
}

// raw writes bytes already framed as events.
func (rl *relayer) raw(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := rl.out.WriteRaw(b); err != nil {
		return clientGone{err}
	}
	return nil
}

// reframe relays one event that is not a single data line through the
// event relay.
func (rl *relayer) reframe(block []byte) (bool, error) {
	rd := sse.NewReader(bytes.NewReader(block)).MidStream()
	defer rd.Release()
	ev, err := rd.Next()
	if errors.Is(err, io.EOF) {
		return false, nil // comments only
	}
	if err != nil {
		return false, fmt.Errorf("read upstream stream: %w", err)
	}
	return rl.openAIEvent(ev)
}

// span is where an event lies in the bytes read.
type span struct {
	start int // its first byte, past the blank lines before it
	line  int // the end of its first line, past the line end
	end   int // past the blank line that ends it
	// lone: a line from the end of the previous event to end ends in a
	// lone CR, or in a CR that is the last byte read (a CRLF's LF may
	// follow in the next read, or another line). Such an event is
	// re-framed rather than forwarded as framed: clients that split lines
	// at LF alone (openai-go's bufio.Scanner) would misread it, and it
	// ends at that CR whatever follows, so it is never held back waiting
	// for the next read.
	lone bool
}

// nextEvent finds the first complete event at or after pos. Lines end in
// CRLF, LF or a lone CR, as the spec has them.
func nextEvent(b []byte, pos int) (ev span, ok bool) {
	ev.start = pos
	for i := pos; ; {
		n, next, lone := sse.LineEnd(b[i:])
		if next == 0 {
			return span{}, false // the rest is still on its way
		}
		ev.lone = ev.lone || lone
		i += next
		switch {
		case n > 0:
			if ev.line == 0 {
				ev.line = i
			}
		case ev.line == 0:
			ev.start = i // a blank line before the event
		default:
			ev.end = i
			return ev, true
		}
	}
}

var dataField = []byte("data:")

// singleData returns the value of an event in b that is exactly one data
// line (the form OpenAI and compatible servers send), framed with LF or
// CRLF.
func singleData(b []byte, ev span) ([]byte, bool) {
	if ev.lone || !bytes.HasPrefix(b[ev.start:], dataField) {
		return nil, false
	}
	// After the data line only the blank line ("\n" or "\r\n") may follow.
	if rest := b[ev.line:ev.end]; len(rest) > 2 || (len(rest) == 2 && rest[0] != '\r') {
		return nil, false
	}
	line := b[ev.start+len(dataField) : ev.line-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > 0 && line[0] == ' ' {
		line = line[1:]
	}
	return line, true
}
