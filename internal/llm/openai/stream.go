package openai

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// errEnded is the public message of a stream that stopped without [DONE].
const errEnded = "upstream stream ended before completion"

// StreamDecoder turns Chat Completions chunks into canonical events. Make
// one per stream with NewStreamDecoder; not safe for concurrent use.
type StreamDecoder struct {
	started, finished, deltaSent, done bool
	next                               int // next canonical block index
	open                               int // open block index, -1 for none
	openType                           llm.BlockType
	tools                              map[int]toolRef // by OpenAI tool index
	stop                               llm.StopReason
	usage                              *llm.Usage
}

// toolRef is the canonical block of one OpenAI tool call.
type toolRef struct {
	idx int
	id  string
}

var _ llm.StreamDecoder = (*StreamDecoder)(nil)

// NewStreamDecoder returns a decoder for one upstream stream.
func NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{open: -1, tools: map[int]toolRef{}}
}

// Decode implements llm.StreamDecoder.
func (s *StreamDecoder) Decode(dst []llm.StreamEvent, _ string, data []byte) ([]llm.StreamEvent, error) {
	if s.done {
		return dst, nil
	}
	if string(data) == "[DONE]" {
		dst = s.closeOpen(dst)
		if !s.deltaSent {
			dst = s.messageDelta(dst)
		}
		s.done = true
		return append(dst, llm.StreamEvent{Type: llm.EventDone}), nil
	}
	var c chatResponse
	if err := json.Unmarshal(data, &c); err != nil {
		return dst, llm.Malformed("openai stream chunk", err)
	}
	if c.Error != nil {
		s.done = true
		return append(dst, upstreamError(c.Error)), nil
	}
	if !s.started && len(c.Choices) == 0 && c.Usage == nil {
		return dst, nil // Azure's leading prompt_filter_results chunk has no id yet
	}
	if !s.started {
		s.started = true
		dst = append(dst, llm.StreamEvent{Type: llm.EventMessageStart, Message: &llm.Response{ID: c.ID, Model: c.Model, Created: c.Created, Content: []llm.Block{}}})
	}
	if len(c.Choices) > 0 {
		var err error
		if dst, err = s.choice(dst, c.Choices[0]); err != nil {
			return dst, err
		}
	}
	if c.Usage != nil {
		u := decodeUsage(c.Usage)
		s.usage = &u
		if s.finished && !s.deltaSent {
			dst = s.messageDelta(dst)
		}
	}
	return dst, nil
}

// upstreamError is the canonical event of an upstream's error chunk: its
// class kept (see ErrorClass), its message not (it is the upstream's).
func upstreamError(e *errorObject) llm.StreamEvent {
	return llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: ErrorClass(e.Type, codeText(e.Code)), Message: "upstream error"}}
}

// codeText is an error object's "code" as text: a string's value, a
// number's digits, "" for null or anything else.
func codeText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// ErrorClass names the class of an OpenAI-family error object, from its
// "code" and "type", in the canonical model's terms (Anthropic's error
// type names, as llm.StreamError carries them): "rate_limit_error",
// "overloaded_error", "invalid_request_error", "request_too_large", or
// "api_error" for anything else — server errors, the provider's own
// credential refused, its quota spent. A known code decides: it is the
// more specific of the two (type "tokens" with code "rate_limit_exceeded",
// type "invalid_request_error" with code "invalid_api_key"); some
// compatible servers (OpenRouter) send an HTTP status as the code.
func ErrorClass(typ, code string) string {
	if c, ok := errorClasses[code]; ok {
		return c
	}
	if c, ok := errorClasses[typ]; ok {
		return c
	}
	return "api_error"
}

var errorClasses = map[string]string{
	"rate_limit_exceeded": "rate_limit_error", "rate_limit_error": "rate_limit_error", "429": "rate_limit_error",

	"overloaded_error": "overloaded_error", "overloaded": "overloaded_error", "server_overloaded": "overloaded_error",
	"engine_overloaded": "overloaded_error", "service_unavailable": "overloaded_error", "503": "overloaded_error", "529": "overloaded_error",

	"invalid_request_error": "invalid_request_error", "context_length_exceeded": "invalid_request_error",
	"string_above_max_length": "invalid_request_error", "400": "invalid_request_error", "422": "invalid_request_error",

	"request_too_large": "request_too_large", "413": "request_too_large",

	// The provider's account, not the caller's request: the generic class,
	// whatever the type beside them says.
	"invalid_api_key": "api_error", "invalid_organization": "api_error", "account_deactivated": "api_error",
	"insufficient_quota": "api_error", "billing_hard_limit_reached": "api_error", "401": "api_error", "403": "api_error",
}

func (s *StreamDecoder) choice(dst []llm.StreamEvent, ch choice) ([]llm.StreamEvent, error) {
	if d := ch.Delta; d != nil {
		if d.ReasoningContent != "" {
			dst = s.appendText(dst, llm.BlockThinking, llm.DeltaThinking, d.ReasoningContent)
		}
		if d.Content != nil && *d.Content != "" {
			dst = s.appendText(dst, llm.BlockText, llm.DeltaText, *d.Content)
		}
		for _, tc := range d.ToolCalls {
			dst = s.toolDelta(dst, tc)
		}
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		dst = s.closeOpen(dst)
		s.finished, s.stop = true, decodeFinish(*ch.FinishReason)
	}
	return dst, nil
}

func (s *StreamDecoder) appendText(dst []llm.StreamEvent, bt llm.BlockType, dt llm.DeltaType, text string) []llm.StreamEvent {
	if s.open < 0 || s.openType != bt {
		dst = s.start(dst, llm.Block{Type: bt})
	}
	return append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: s.open, Delta: &llm.Delta{Type: dt, Text: text}})
}

func (s *StreamDecoder) toolDelta(dst []llm.StreamEvent, tc toolCall) []llm.StreamEvent {
	oi := 0
	if tc.Index != nil {
		oi = *tc.Index
	}
	ref, known := s.tools[oi]
	// Some servers repeat the id on every delta; only a new id (or a new
	// index) starts a new call.
	if !known || tc.ID != "" && tc.ID != ref.id {
		dst = s.start(dst, llm.Block{Type: llm.BlockToolUse, ID: tc.ID, Name: tc.Function.Name})
		ref = toolRef{idx: s.open, id: tc.ID}
		s.tools[oi] = ref
	}
	idx := ref.idx
	if tc.Function.Arguments == "" {
		return dst
	}
	return append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: idx, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: tc.Function.Arguments}})
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

func (s *StreamDecoder) messageDelta(dst []llm.StreamEvent) []llm.StreamEvent {
	s.deltaSent = true
	stop := s.stop
	if stop == "" {
		stop = llm.StopEndTurn
	}
	return append(dst, llm.StreamEvent{Type: llm.EventMessageDelta, StopReason: stop, Usage: s.usage})
}

// End implements llm.StreamDecoder: without [DONE] the stream failed.
func (s *StreamDecoder) End(dst []llm.StreamEvent) []llm.StreamEvent {
	if s.done {
		return dst
	}
	s.done = true
	return append(dst, llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: "api_error", Message: errEnded}})
}

// StreamEncoder renders canonical events as Chat Completions chunks. Make
// one per stream with NewStreamEncoder; not safe for concurrent use.
type StreamEncoder struct {
	includeUsage bool
	id, model    string
	created      int64
	tools        map[int]int // block index → OpenAI tool index
	usage        *llm.Usage
}

var _ llm.StreamEncoder = (*StreamEncoder)(nil)

// NewStreamEncoder returns an encoder; includeUsage is the caller's
// stream_options.include_usage.
func NewStreamEncoder(includeUsage bool) *StreamEncoder {
	return &StreamEncoder{includeUsage: includeUsage, tools: map[int]int{}}
}

// Encode implements llm.StreamEncoder.
func (e *StreamEncoder) Encode(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	switch ev.Type {
	case llm.EventMessageStart:
		if ev.Message != nil {
			e.id, e.model, e.created = ev.Message.ID, ev.Message.Model, ev.Message.Created
		}
		empty := ""
		return e.chunk(dst, &respMessage{Role: "assistant", Content: &empty}, nil)
	case llm.EventBlockStart:
		if ev.Block == nil || ev.Block.Type != llm.BlockToolUse {
			return dst, nil
		}
		k := len(e.tools)
		e.tools[ev.Index] = k
		return e.chunk(dst, &respMessage{ToolCalls: []toolCall{{Index: &k, ID: ev.Block.ID, Type: "function", Function: function{Name: ev.Block.Name}}}}, nil)
	case llm.EventBlockDelta:
		return e.delta(dst, ev)
	case llm.EventMessageDelta:
		e.usage = ev.Usage
		fr := encodeFinish(ev.StopReason)
		return e.chunk(dst, &respMessage{}, &fr)
	case llm.EventDone:
		if e.includeUsage && e.usage != nil {
			var err error
			if dst, err = e.marshal(dst, chatResponse{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model, Choices: []choice{}, Usage: encodeUsage(*e.usage)}); err != nil {
				return dst, err
			}
		}
		return llm.AppendSSE(dst, "", []byte("[DONE]")), nil
	case llm.EventError:
		return encodeStreamError(dst, ev.Error)
	}
	return dst, nil
}

func (e *StreamEncoder) delta(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	if ev.Delta == nil {
		return dst, nil
	}
	switch ev.Delta.Type {
	case llm.DeltaText:
		return e.chunk(dst, &respMessage{Content: &ev.Delta.Text}, nil)
	case llm.DeltaInputJSON:
		if ev.Delta.Text == "" {
			return dst, nil
		}
		k, ok := e.tools[ev.Index]
		if !ok {
			return dst, fmt.Errorf("encode openai chunk: arguments for unknown block %d", ev.Index)
		}
		return e.chunk(dst, &respMessage{ToolCalls: []toolCall{{Index: &k, Function: function{Arguments: ev.Delta.Text}}}}, nil)
	}
	return dst, nil // thinking has no Chat Completions form
}

func (e *StreamEncoder) chunk(dst []byte, d *respMessage, finish *string) ([]byte, error) {
	return e.marshal(dst, chatResponse{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model, Choices: []choice{{Delta: d, FinishReason: finish}}})
}

func (e *StreamEncoder) marshal(dst []byte, c chatResponse) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return dst, fmt.Errorf("encode openai chunk: %w", err)
	}
	return llm.AppendSSE(dst, "", raw), nil
}

// encodeStreamError writes OpenAI's in-stream error; no [DONE] follows, so
// SDKs report a failure rather than a truncated success.
func encodeStreamError(dst []byte, se *llm.StreamError) ([]byte, error) {
	if se == nil {
		se = &llm.StreamError{Type: "api_error", Message: "upstream error"}
	}
	raw, err := json.Marshal(map[string]errorObject{"error": {Message: se.Message, Type: se.Type}})
	if err != nil {
		return dst, fmt.Errorf("encode openai error: %w", err)
	}
	return llm.AppendSSE(dst, "", raw), nil
}
