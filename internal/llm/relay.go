package llm

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// EventSource yields upstream SSE events one at a time and io.EOF after the
// last. The gateway adapts its SSE parser to it.
type EventSource interface {
	Next() (event string, data []byte, err error)
}

// RelayResult is what a relayed stream delivered, for usage accounting.
type RelayResult struct {
	// Usage is the last usage the upstream reported (nil if none).
	Usage *Usage
	// StopReason is set when the upstream finished its message.
	StopReason StopReason
	// Completed is true only when the stream ended cleanly (done).
	Completed bool
	// Error is the error event the stream ended with (the upstream's, its
	// class kept, or the relay's own), nil when none was sent.
	Error *StreamError
	// OutputChars counts text, thinking and tool-argument characters
	// delivered, for a local estimate when usage is missing.
	OutputChars int
}

// ErrUpstreamStream is returned by Relay when the upstream stream failed or
// ended early; the caller has already received an error event.
var ErrUpstreamStream = errors.New("upstream stream failed")

// Relay translates an upstream stream into the caller's dialect: every
// upstream event is decoded, encoded, written and flushed before the next is
// read, so nothing is buffered to the end. A read or decode failure, or an
// upstream that ends before its terminal event, is written as an error event
// in the caller's dialect and reported as ErrUpstreamStream; a write failure
// (the client went away) is returned wrapped so the caller can cancel the
// upstream request.
func Relay(w io.Writer, flush func(), src EventSource, dec StreamDecoder, enc StreamEncoder) (RelayResult, error) {
	var (
		res RelayResult
		evs []StreamEvent
		out []byte
	)
	emit := func(evs []StreamEvent) error {
		out = out[:0]
		for _, ev := range evs {
			if ev.Type == EventMessageStart && ev.Message != nil && ev.Message.Created == 0 {
				ev.Message.Created = time.Now().Unix() // OpenAI callers expect created
			}
			res.note(ev)
			var err error
			if out, err = enc.Encode(out, ev); err != nil {
				return fmt.Errorf("relay: %w", err)
			}
		}
		if len(out) == 0 {
			return nil
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("relay: write to client: %w", err)
		}
		if flush != nil {
			flush()
		}
		return nil
	}
	fail := func() (RelayResult, error) {
		ev := StreamEvent{Type: EventError, Error: &StreamError{Type: "api_error", Message: "upstream stream failed"}}
		if err := emit([]StreamEvent{ev}); err != nil {
			return res, err
		}
		return res, ErrUpstreamStream
	}
	for {
		name, data, err := src.Next()
		if errors.Is(err, io.EOF) {
			if err := emit(dec.End(evs[:0])); err != nil {
				return res, err
			}
			break
		}
		if err != nil {
			return fail()
		}
		if evs, err = dec.Decode(evs[:0], name, data); err != nil {
			if len(evs) > 0 {
				if err := emit(evs); err != nil {
					return res, err
				}
			}
			return fail()
		}
		if err := emit(evs); err != nil {
			return res, err
		}
		if res.Completed || res.failed() {
			break
		}
	}
	if !res.Completed {
		return res, ErrUpstreamStream
	}
	return res, nil
}

func (r *RelayResult) note(ev StreamEvent) {
	switch ev.Type {
	case EventMessageStart:
		if ev.Message != nil && ev.Message.Usage != (Usage{}) {
			u := ev.Message.Usage
			r.Usage = &u
		}
	case EventBlockDelta:
		if ev.Delta != nil && ev.Delta.Type != DeltaSignature {
			r.OutputChars += len(ev.Delta.Text)
		}
	case EventMessageDelta:
		r.StopReason = ev.StopReason
		if ev.Usage != nil {
			u := *ev.Usage
			r.Usage = &u
		}
	case EventDone:
		r.Completed = true
	case EventError:
		r.Error = ev.Error
		if r.Error == nil {
			r.Error = &StreamError{Type: "api_error"}
		}
	}
}

func (r *RelayResult) failed() bool { return r.Error != nil }
