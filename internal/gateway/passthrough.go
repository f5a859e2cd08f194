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
// out; an event that is not a single data line (comments, named events,
// multi-line data) is parsed and re-framed as the event relay does. It
// returns nil only when the upstream ended properly and every event
// reached the client.
func (rl *relayer) pass(body io.Reader) error {
	bp := passBufs.Get().(*[]byte)
	defer passBufs.Put(bp)
	buf, have := *bp, 0
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
			used, done, err := rl.passEvents(buf[:have])
			if err == nil && used > 0 { // a read that completed no event wrote nothing
				if ferr := rl.out.Flush(); ferr != nil {
					err = clientGone{ferr}
				}
			}
			if err != nil || done {
				// The read that brought the terminal event often brought the
				// body's end too: then there is nothing left to drain.
				rl.ended = done && errors.Is(rerr, io.EOF)
				return err
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

// passEvents relays the complete events at the start of b and returns how
// many bytes they took, and whether the stream's terminal event was among
// them.
func (rl *relayer) passEvents(b []byte) (used int, done bool, err error) {
	out := 0 // start of the bytes not yet written
	for pos := 0; ; {
		start, line, end, ok := nextEvent(b, pos)
		if !ok {
			return pos, false, rl.raw(b[out:pos])
		}
		data, single := singleData(b[start:end], line-start)
		if !single {
			// Unusual framing: parse it and re-frame it.
			if err := rl.raw(b[out:start]); err != nil {
				return 0, false, err
			}
			if done, err = rl.reframe(b[start:end]); err != nil || done {
				return end, done, err
			}
			pos, out = end, end
			continue
		}
		act, err := rl.inspect(data)
		switch {
		case err != nil:
			return 0, false, errors.Join(err, rl.raw(b[out:start]))
		case act == dropChunk:
			if err := rl.raw(b[out:start]); err != nil {
				return 0, false, err
			}
			out = end
		case act == doneChunk:
			return end, true, rl.raw(b[out:end])
		}
		pos = end
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
	rd := sse.NewReader(bytes.NewReader(block))
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

// nextEvent finds the first complete event at or after pos: stray blank
// lines are skipped, and the event runs from start to end (end is past
// the blank line that terminates it; lines end in "\n" or "\r\n"). line
// is the end of the event's first line, past its "\n".
func nextEvent(b []byte, pos int) (start, line, end int, ok bool) {
	for pos < len(b) && (b[pos] == '\n' || (b[pos] == '\r' && pos+1 < len(b) && b[pos+1] == '\n')) {
		if b[pos] == '\r' {
			pos++
		}
		pos++
	}
	start = pos
	for i := pos; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, 0, 0, false
		}
		i += j + 1 // past this line
		if line == 0 {
			line = i
		}
		switch {
		case i < len(b) && b[i] == '\n':
			return start, line, i + 1, true
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return start, line, i + 2, true
		case i >= len(b) || (b[i] == '\r' && i+1 >= len(b)):
			return 0, 0, 0, false // the blank line may still be on its way
		}
	}
}

var dataField = []byte("data:")

// singleData returns the value of an event that is exactly one data line
// (the form OpenAI and compatible servers send); the event's first line
// ends at lineEnd, past its "\n".
func singleData(ev []byte, lineEnd int) ([]byte, bool) {
	if !bytes.HasPrefix(ev, dataField) {
		return nil, false
	}
	// After the data line only the blank line ("\n" or "\r\n") may follow.
	if rest := ev[lineEnd:]; len(rest) > 2 || (len(rest) == 2 && rest[0] != '\r') {
		return nil, false
	}
	line := ev[len(dataField) : lineEnd-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > 0 && line[0] == ' ' {
		line = line[1:]
	}
	return line, true
}
