package gemini

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// StreamDecoder turns streamGenerateContent (?alt=sse) chunks into
// canonical events. Each chunk carries new parts; a function call arrives
// whole and becomes block_start, one input_json delta and block_stop at once.
// Make one per stream with NewStreamDecoder; not safe for concurrent use.
type StreamDecoder struct {
	started, done bool
	next, open    int // next block index; open block or -1
	openType      llm.BlockType
	ids           *callIDs
	usage         *llm.Usage
}

var _ llm.StreamDecoder = (*StreamDecoder)(nil)

// NewStreamDecoder returns a decoder for one upstream stream.
func NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{open: -1, ids: &callIDs{}}
}

// Decode implements llm.StreamDecoder.
func (s *StreamDecoder) Decode(dst []llm.StreamEvent, _ string, data []byte) ([]llm.StreamEvent, error) {
	if s.done {
		return dst, nil
	}
	var c generateResponse
	if err := json.Unmarshal(data, &c); err != nil {
		return dst, llm.Malformed("gemini stream chunk", err)
	}
	if c.Error != nil {
		s.done = true
		return append(dst, llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: errorType(c.Error.Status), Message: "upstream error"}}), nil
	}
	if c.UsageMetadata != nil {
		u := decodeUsage(c.UsageMetadata)
		s.usage = &u
	}
	if !s.started {
		s.started = true
		m := &llm.Response{ID: c.ResponseID, Model: c.ModelVersion, Content: []llm.Block{}}
		if s.usage != nil {
			m.Usage = *s.usage // Gemini reports the prompt count from the first chunk
		}
		dst = append(dst, llm.StreamEvent{Type: llm.EventMessageStart, Message: m})
	}
	if len(c.Candidates) == 0 {
		if c.PromptFeedback != nil && c.PromptFeedback.BlockReason != "" {
			return s.finish(dst, llm.StopContentFilter), nil
		}
		return dst, nil
	}
	cand := c.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			var err error
			if dst, err = s.part(dst, p); err != nil {
				return dst, err
			}
		}
	}
	if cand.FinishReason != "" {
		dst = s.finish(dst, decodeFinish(cand.FinishReason, s.ids.n > 0))
	}
	return dst, nil
}

func (s *StreamDecoder) part(dst []llm.StreamEvent, p part) ([]llm.StreamEvent, error) {
	switch {
	case p.FunctionCall != nil:
		args := p.FunctionCall.Args
		if len(args) == 0 || string(args) == "null" {
			args = json.RawMessage("{}")
		}
		args, ok := llm.CompactObject(args)
		if !ok {
			return dst, llm.Malformed("gemini functionCall args", nil)
		}
		id := s.ids.call(p.FunctionCall.ID, p.FunctionCall.Name)
		dst = s.start(dst, llm.Block{Type: llm.BlockToolUse, ID: id, Name: p.FunctionCall.Name, Signature: p.ThoughtSignature})
		dst = append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: s.open, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: string(args)}})
		return s.closeOpen(dst), nil
	case p.Text != nil && p.Thought:
		if s.open < 0 || s.openType != llm.BlockThinking {
			dst = s.start(dst, llm.Block{Type: llm.BlockThinking})
		}
		if *p.Text != "" {
			dst = append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: s.open, Delta: &llm.Delta{Type: llm.DeltaThinking, Text: *p.Text}})
		}
		if p.ThoughtSignature != "" {
			dst = append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: s.open, Delta: &llm.Delta{Type: llm.DeltaSignature, Text: p.ThoughtSignature}})
		}
		return dst, nil
	case p.Text != nil:
		if *p.Text == "" {
			return dst, nil // Gemini's final chunk often holds an empty text part
		}
		if s.open < 0 || s.openType != llm.BlockText {
			dst = s.start(dst, llm.Block{Type: llm.BlockText})
		}
		return append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: s.open, Delta: &llm.Delta{Type: llm.DeltaText, Text: *p.Text}}), nil
	}
	return dst, nil // media parts in a model stream have no canonical delta
}

func (s *StreamDecoder) start(dst []llm.StreamEvent, b llm.Block) []llm.StreamEvent {
	dst = s.closeOpen(dst)
	s.open, s.openType = s.next, b.Type
	s.next++
	return append(dst, llm.StreamEvent{Type: llm.EventBlockStart, Index: s.open, Block: &b})
}

func (s *StreamDecoder) closeOpen(dst []llm.StreamEvent) []llm.StreamEvent {
	if s.open < 0 {
		return dst
	}
	dst = append(dst, llm.StreamEvent{Type: llm.EventBlockStop, Index: s.open})
	s.open = -1
	return dst
}

func (s *StreamDecoder) finish(dst []llm.StreamEvent, stop llm.StopReason) []llm.StreamEvent {
	dst = s.closeOpen(dst)
	s.done = true
	dst = append(dst, llm.StreamEvent{Type: llm.EventMessageDelta, StopReason: stop, Usage: s.usage})
	return append(dst, llm.StreamEvent{Type: llm.EventDone})
}

// End implements llm.StreamDecoder: a stream without a finishReason failed.
func (s *StreamDecoder) End(dst []llm.StreamEvent) []llm.StreamEvent {
	if s.done {
		return dst
	}
	s.done = true
	return append(dst, llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: "api_error", Message: "upstream stream ended before completion"}})
}

func errorType(status string) string {
	switch status {
	case "RESOURCE_EXHAUSTED":
		return "rate_limit_error"
	case "UNAVAILABLE":
		return "overloaded_error"
	case "INVALID_ARGUMENT":
		return "invalid_request_error"
	}
	return "api_error"
}

// StreamEncoder renders canonical events as streamGenerateContent SSE
// chunks. Tool-call arguments are collected until their block stops, since a
// Gemini functionCall carries whole arguments; everything else is written
// at once. Make one per stream with NewStreamEncoder; not safe for
// concurrent use.
type StreamEncoder struct {
	id, model string
	tools     map[int]*pendingCall
	// array selects the JSON-array framing of a stream without alt=sse
	// (stream_array.go); elems counts the elements written, ended is set
	// once the closing bracket is.
	array bool
	elems int
	ended bool
}

type pendingCall struct {
	call functionCall
	sig  string
	args strings.Builder
}

var _ llm.StreamEncoder = (*StreamEncoder)(nil)

// NewStreamEncoder returns an encoder for one caller stream.
func NewStreamEncoder() *StreamEncoder { return &StreamEncoder{tools: map[int]*pendingCall{}} }

// Encode implements llm.StreamEncoder.
func (e *StreamEncoder) Encode(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	switch ev.Type {
	case llm.EventMessageStart:
		if ev.Message != nil {
			e.id, e.model = ev.Message.ID, ev.Message.Model
		}
	case llm.EventBlockStart:
		if ev.Block != nil && ev.Block.Type == llm.BlockToolUse {
			e.tools[ev.Index] = &pendingCall{call: functionCall{ID: ev.Block.ID, Name: ev.Block.Name}, sig: ev.Block.Signature}
		}
	case llm.EventBlockDelta:
		return e.delta(dst, ev)
	case llm.EventBlockStop:
		pc, ok := e.tools[ev.Index]
		if !ok {
			return dst, nil
		}
		delete(e.tools, ev.Index)
		args := pc.args.String()
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		if !llm.ValidJSONObject([]byte(args)) {
			return dst, fmt.Errorf("encode gemini chunk: tool %q arguments are not a JSON object", pc.call.Name)
		}
		pc.call.Args = json.RawMessage(args)
		return e.chunk(dst, []part{{FunctionCall: &pc.call, ThoughtSignature: pc.sig}}, "", nil)
	case llm.EventMessageDelta:
		var u *usageMetadata
		if ev.Usage != nil {
			u = encodeUsage(*ev.Usage)
		}
		return e.chunk(dst, []part{textPart("")}, encodeFinish(ev.StopReason), u)
	case llm.EventError:
		return e.streamError(dst, ev.Error)
	case llm.EventDone:
		return e.end(dst), nil
	}
	return dst, nil // ping has no form
}

func (e *StreamEncoder) delta(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	if ev.Delta == nil {
		return dst, nil
	}
	switch ev.Delta.Type {
	case llm.DeltaText:
		return e.chunk(dst, []part{textPart(ev.Delta.Text)}, "", nil)
	case llm.DeltaThinking:
		p := textPart(ev.Delta.Text)
		p.Thought = true
		return e.chunk(dst, []part{p}, "", nil)
	case llm.DeltaSignature:
		p := textPart("")
		p.Thought, p.ThoughtSignature = true, ev.Delta.Text
		return e.chunk(dst, []part{p}, "", nil)
	case llm.DeltaInputJSON:
		if pc, ok := e.tools[ev.Index]; ok {
			pc.args.WriteString(ev.Delta.Text)
		}
	}
	return dst, nil
}

func (e *StreamEncoder) chunk(dst []byte, parts []part, finish string, u *usageMetadata) ([]byte, error) {
	c := generateResponse{
		Candidates:    []candidate{{Content: &content{Role: "model", Parts: parts}, FinishReason: finish}},
		UsageMetadata: u, ModelVersion: e.model, ResponseID: e.id,
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return dst, fmt.Errorf("encode gemini chunk: %w", err)
	}
	return e.frame(dst, raw), nil
}

// streamError writes Google's error JSON as a chunk; clients treat it
// as a failure, and no finishReason has been sent.
func (e *StreamEncoder) streamError(dst []byte, se *llm.StreamError) ([]byte, error) {
	if se == nil {
		se = &llm.StreamError{Type: "api_error", Message: "upstream error"}
	}
	code, status := 500, "INTERNAL"
	switch se.Type {
	case "rate_limit_error":
		code, status = 429, "RESOURCE_EXHAUSTED"
	case "overloaded_error":
		code, status = 503, "UNAVAILABLE"
	case "invalid_request_error":
		code, status = 400, "INVALID_ARGUMENT"
	}
	raw, err := json.Marshal(generateResponse{Error: &apiError{Code: code, Message: se.Message, Status: status}})
	if err != nil {
		return dst, fmt.Errorf("encode gemini error: %w", err)
	}
	return e.end(e.frame(dst, raw)), nil
}
