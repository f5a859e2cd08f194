package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

type streamEvent struct {
	Type         string           `json:"type"`
	Message      *messageResponse `json:"message,omitempty"`
	Index        *int             `json:"index,omitempty"`
	ContentBlock *block           `json:"content_block,omitempty"`
	Delta        *eventDelta      `json:"delta,omitempty"`
	Usage        *deltaUsage      `json:"usage,omitempty"`
	Error        *errorBody       `json:"error,omitempty"`
}

type eventDelta struct {
	Type         string  `json:"type,omitempty"`
	Text         *string `json:"text,omitempty"`
	PartialJSON  *string `json:"partial_json,omitempty"`
	Thinking     *string `json:"thinking,omitempty"`
	Signature    *string `json:"signature,omitempty"`
	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// deltaUsage is message_delta usage: output_tokens is cumulative; the
// input counts appear in newer API versions.
type deltaUsage struct {
	InputTokens              *int           `json:"input_tokens,omitempty"`
	OutputTokens             int            `json:"output_tokens"`
	CacheCreationInputTokens *int           `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int           `json:"cache_read_input_tokens,omitempty"`
	CacheCreation            *cacheCreation `json:"cache_creation,omitempty"`
}

type errorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// StreamDecoder turns Messages stream events into canonical events. Make
// one per stream with NewStreamDecoder; not safe for concurrent use.
type StreamDecoder struct {
	usage  usage            // running totals in Anthropic terms
	blocks map[int]blockRef // by Anthropic index
	next   int              // next dense canonical index
	done   bool
}

// blockRef is an upstream block's dense canonical index (-1: skipped) and
// type, so a delta of the wrong kind is refused rather than passed on.
type blockRef struct {
	idx int
	typ llm.BlockType
}

// deltaFits says which block type each delta kind belongs to.
var deltaFits = map[string]llm.BlockType{
	"text_delta": llm.BlockText, "input_json_delta": llm.BlockToolUse,
	"thinking_delta": llm.BlockThinking, "signature_delta": llm.BlockThinking,
}

var _ llm.StreamDecoder = (*StreamDecoder)(nil)

// NewStreamDecoder returns a decoder for one upstream stream.
func NewStreamDecoder() *StreamDecoder { return &StreamDecoder{blocks: map[int]blockRef{}} }

// Decode implements llm.StreamDecoder. The event name is ignored: the data
// carries its own type.
func (s *StreamDecoder) Decode(dst []llm.StreamEvent, _ string, data []byte) ([]llm.StreamEvent, error) {
	if s.done {
		return dst, nil
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return dst, llm.Malformed("anthropic stream event", err)
	}
	switch ev.Type {
	case "message_start":
		if ev.Message == nil {
			return dst, llm.Malformed("anthropic message_start", nil)
		}
		s.usage = ev.Message.Usage
		u := decodeUsage(s.usage)
		return append(dst, llm.StreamEvent{Type: llm.EventMessageStart, Message: &llm.Response{ID: ev.Message.ID, Model: ev.Message.Model, Content: []llm.Block{}, Usage: u}}), nil
	case "content_block_start":
		return s.blockStart(dst, ev)
	case "content_block_delta":
		return s.blockDelta(dst, ev)
	case "content_block_stop":
		if ref, ok := s.blocks[at(ev.Index)]; ok && ref.idx >= 0 {
			dst = append(dst, llm.StreamEvent{Type: llm.EventBlockStop, Index: ref.idx})
		}
		return dst, nil
	case "message_delta":
		return s.messageDelta(dst, ev), nil
	case "message_stop":
		s.done = true
		return append(dst, llm.StreamEvent{Type: llm.EventDone}), nil
	case "ping":
		return append(dst, llm.StreamEvent{Type: llm.EventPing}), nil
	case "error":
		s.done = true
		typ := "api_error"
		if ev.Error != nil && ev.Error.Type != "" {
			typ = ev.Error.Type
		}
		return append(dst, llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: typ, Message: "upstream error"}}), nil
	}
	return dst, nil // unknown event types are ignored, as the SDKs do
}

func (s *StreamDecoder) blockStart(dst []llm.StreamEvent, ev streamEvent) ([]llm.StreamEvent, error) {
	if ev.ContentBlock == nil {
		return dst, llm.Malformed("anthropic content_block_start", nil)
	}
	cb := ev.ContentBlock
	b := llm.Block{Type: llm.BlockType(cb.Type)}
	switch b.Type {
	case llm.BlockText, llm.BlockThinking:
	case llm.BlockToolUse:
		b.ID, b.Name = cb.ID, cb.Name
	case llm.BlockRedactedThinking:
		b.Data = cb.Data
	default:
		s.blocks[at(ev.Index)] = blockRef{idx: -1} // server tool blocks have no canonical form
		return dst, nil
	}
	idx := s.next
	s.next++
	if _, dup := s.blocks[at(ev.Index)]; dup {
		return dst, llm.Malformed("anthropic content_block_start repeats an index", nil)
	}
	s.blocks[at(ev.Index)] = blockRef{idx: idx, typ: b.Type}
	dst = append(dst, llm.StreamEvent{Type: llm.EventBlockStart, Index: idx, Block: &b})
	if cb.Text != nil && *cb.Text != "" {
		dst = append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: idx, Delta: &llm.Delta{Type: llm.DeltaText, Text: *cb.Text}})
	}
	return dst, nil
}

func (s *StreamDecoder) blockDelta(dst []llm.StreamEvent, ev streamEvent) ([]llm.StreamEvent, error) {
	ref, ok := s.blocks[at(ev.Index)]
	if !ok || ev.Delta == nil {
		return dst, llm.Malformed("anthropic delta for an unknown block", nil)
	}
	want, known := deltaFits[ev.Delta.Type]
	if ref.idx < 0 || !known {
		return dst, nil // a skipped block, or citations and future delta kinds
	}
	if want != ref.typ {
		return dst, llm.Malformed("anthropic "+ev.Delta.Type+" for a "+string(ref.typ)+" block", nil)
	}
	idx := ref.idx
	var d llm.Delta
	switch ev.Delta.Type {
	case "text_delta":
		d = llm.Delta{Type: llm.DeltaText, Text: deref(ev.Delta.Text)}
	case "input_json_delta":
		d = llm.Delta{Type: llm.DeltaInputJSON, Text: deref(ev.Delta.PartialJSON)}
	case "thinking_delta":
		d = llm.Delta{Type: llm.DeltaThinking, Text: deref(ev.Delta.Thinking)}
	case "signature_delta":
		d = llm.Delta{Type: llm.DeltaSignature, Text: deref(ev.Delta.Signature)}
	}
	return append(dst, llm.StreamEvent{Type: llm.EventBlockDelta, Index: idx, Delta: &d}), nil
}

func (s *StreamDecoder) messageDelta(dst []llm.StreamEvent, ev streamEvent) []llm.StreamEvent {
	out := llm.StreamEvent{Type: llm.EventMessageDelta}
	if ev.Delta != nil {
		if ev.Delta.StopReason != nil {
			out.StopReason = decodeStop(*ev.Delta.StopReason)
		}
		out.StopSequence = deref(ev.Delta.StopSequence)
	}
	if u := ev.Usage; u != nil {
		s.usage.OutputTokens = u.OutputTokens
		if u.InputTokens != nil {
			s.usage.InputTokens = *u.InputTokens
		}
		if u.CacheReadInputTokens != nil {
			s.usage.CacheReadInputTokens = *u.CacheReadInputTokens
		}
		if u.CacheCreationInputTokens != nil {
			s.usage.CacheCreationInputTokens = *u.CacheCreationInputTokens
		}
		if u.CacheCreation != nil {
			s.usage.CacheCreation = u.CacheCreation
		}
	}
	total := decodeUsage(s.usage)
	out.Usage = &total
	return append(dst, out)
}

// End implements llm.StreamDecoder: without message_stop the stream failed.
func (s *StreamDecoder) End(dst []llm.StreamEvent) []llm.StreamEvent {
	if s.done {
		return dst
	}
	s.done = true
	return append(dst, llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: "api_error", Message: "upstream stream ended before completion"}})
}

// StreamEncoder renders canonical events as Messages SSE events. Make one
// per stream with NewStreamEncoder; not safe for concurrent use.
type StreamEncoder struct {
	blocks map[int]int // canonical index → dense output index
}

var _ llm.StreamEncoder = (*StreamEncoder)(nil)

// NewStreamEncoder returns an encoder for one caller stream.
func NewStreamEncoder() *StreamEncoder { return &StreamEncoder{blocks: map[int]int{}} }

// Encode implements llm.StreamEncoder.
func (e *StreamEncoder) Encode(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	switch ev.Type {
	case llm.EventMessageStart:
		m := &messageResponse{Type: "message", Role: "assistant", Content: []block{}}
		if ev.Message != nil {
			m.ID, m.Model, m.Usage = ev.Message.ID, ev.Message.Model, encodeUsage(ev.Message.Usage)
		}
		return put(dst, "message_start", streamEvent{Type: "message_start", Message: m})
	case llm.EventBlockStart:
		if ev.Block == nil {
			return dst, nil
		}
		idx := len(e.blocks)
		e.blocks[ev.Index] = idx
		cb := startBlock(*ev.Block)
		return put(dst, "content_block_start", streamEvent{Type: "content_block_start", Index: &idx, ContentBlock: &cb})
	case llm.EventBlockDelta:
		idx, ok := e.blocks[ev.Index]
		if !ok || ev.Delta == nil {
			return dst, fmt.Errorf("encode anthropic event: delta for unknown block %d", ev.Index)
		}
		return put(dst, "content_block_delta", streamEvent{Type: "content_block_delta", Index: &idx, Delta: encodeDelta(*ev.Delta)})
	case llm.EventBlockStop:
		idx, ok := e.blocks[ev.Index]
		if !ok {
			return dst, nil
		}
		return put(dst, "content_block_stop", streamEvent{Type: "content_block_stop", Index: &idx})
	case llm.EventMessageDelta:
		return e.messageDelta(dst, ev)
	case llm.EventPing:
		return append(dst, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...), nil
	case llm.EventDone:
		return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...), nil
	case llm.EventError:
		se := ev.Error
		if se == nil {
			se = &llm.StreamError{Type: "api_error", Message: "upstream error"}
		}
		return put(dst, "error", struct {
			Type  string    `json:"type"`
			Error errorBody `json:"error"`
		}{"error", errorBody{Type: se.Type, Message: se.Message}})
	}
	return dst, nil
}

func (e *StreamEncoder) messageDelta(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	stop := encodeStop(ev.StopReason)
	d := &eventDelta{StopReason: &stop}
	if ev.StopSequence != "" {
		d.StopSequence = &ev.StopSequence
	}
	var u deltaUsage
	if ev.Usage != nil {
		au := encodeUsage(*ev.Usage)
		u = deltaUsage{InputTokens: &au.InputTokens, OutputTokens: au.OutputTokens, CacheReadInputTokens: &au.CacheReadInputTokens,
			CacheCreationInputTokens: &au.CacheCreationInputTokens, CacheCreation: au.CacheCreation}
	}
	return put(dst, "message_delta", streamEvent{Type: "message_delta", Delta: d, Usage: &u})
}

// startBlock is the empty shell a content_block_start announces.
func startBlock(b llm.Block) block {
	empty := ""
	out := block{Type: string(b.Type)}
	switch b.Type {
	case llm.BlockText:
		out.Text = &empty
	case llm.BlockToolUse:
		out.ID, out.Name, out.Input = SafeID(b.ID), b.Name, json.RawMessage("{}")
	case llm.BlockThinking:
		out.Thinking, out.Signature = &empty, &empty
	case llm.BlockRedactedThinking:
		out.Data = b.Data
	}
	return out
}

func encodeDelta(d llm.Delta) *eventDelta {
	t := d.Text
	switch d.Type {
	case llm.DeltaInputJSON:
		return &eventDelta{Type: "input_json_delta", PartialJSON: &t}
	case llm.DeltaThinking:
		return &eventDelta{Type: "thinking_delta", Thinking: &t}
	case llm.DeltaSignature:
		return &eventDelta{Type: "signature_delta", Signature: &t}
	}
	return &eventDelta{Type: "text_delta", Text: &t}
}

func put(dst []byte, name string, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("encode anthropic %s: %w", name, err)
	}
	return llm.AppendSSE(dst, name, raw), nil
}

// at reads an optional event index; a missing one is block 0.
func at(i *int) int {
	if i == nil {
		return 0
	}
	return *i
}
