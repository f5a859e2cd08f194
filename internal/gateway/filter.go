package gateway

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// A response filter (the guardrails' redactor) sees a stream as separate
// texts, each in order: every text field of every choice of an OpenAI
// stream (content, refusal, reasoning_content, and the arguments of each
// tool call), every text and tool-input block of an Anthropic one. One
// filter follows one text, so a secret split across chunks stays
// contiguous for it and choices never borrow each other's text; what it
// holds back is sent just before the chunk that finishes its choice (or
// before its block stops), so it arrives before finish_reason and before
// the usage chunk. Anthropic thinking is not filtered: its signature
// covers the text, and a changed thinking block is refused when the
// client sends it back.

// filterKey names one text a filter follows.
type filterKey struct {
	choice int64  // OpenAI choice index, or Anthropic block index
	field  string // a delta field, or "tool" for a tool call's arguments
	call   int64  // the tool call's index
}

// openAITextFields are the text fields of an OpenAI delta a filter reads.
var openAITextFields = [...]string{"content", "refusal", "reasoning_content"}

// filterFor returns the filter following k, starting one if needed (the
// first reuses the relay's own).
func (rl *relayer) filterFor(k filterKey) StreamFilter {
	if f, ok := rl.filters[k]; ok {
		return f
	}
	if rl.filters == nil {
		rl.filters = map[filterKey]StreamFilter{}
	}
	f := rl.filter
	if rl.filterUsed {
		f = rl.x.g.deps.Hooks.Response.Stream(rl.ctx, rl.x.rt.dialect)
	}
	rl.filterUsed = true
	rl.filters[k] = f
	return f
}

// finishing is a choice an OpenAI chunk finishes (its finish_reason is
// set): at pos in the chunk's choices, with its own text or not.
type finishing struct {
	pos     int
	index   int64
	hasText bool
}

// filterOpenAI rewrites an OpenAI chunk's texts through their filters and
// returns the choices it finishes. Logprobs are dropped: their token texts
// cannot be redacted piece by piece.
func (rl *relayer) filterOpenAI(data []byte) ([]byte, []finishing, error) {
	choices := gjson.GetBytes(data, "choices")
	if !choices.IsArray() {
		return data, nil, nil
	}
	var (
		err  error
		fin  []finishing
		text bool
	)
	pos := 0
	choices.ForEach(func(_, c gjson.Result) bool {
		p := "choices." + strconv.Itoa(pos) + "."
		if data, text, err = rl.filterChoice(data, p, c); err == nil && c.Get("finish_reason").Type == gjson.String {
			fin = append(fin, finishing{pos, c.Get("index").Int(), text})
		}
		pos++
		return err == nil
	})
	return data, fin, err
}

// filterChoice filters one choice's texts (at path prefix p); text reports
// whether it carried any.
func (rl *relayer) filterChoice(data []byte, p string, c gjson.Result) (out []byte, text bool, err error) {
	i := c.Get("index").Int()
	d := c.Get("delta")
	for _, field := range openAITextFields {
		v := d.Get(field)
		if v.Type != gjson.String {
			continue
		}
		text = true
		var t string
		if t, err = rl.filterFor(filterKey{choice: i, field: field}).Text(v.Str); err != nil {
			return data, text, blocked(err)
		}
		if data, err = sjson.SetBytes(data, p+"delta."+field, t); err != nil {
			return data, text, err
		}
	}
	k := 0
	for _, call := range d.Get("tool_calls").Array() {
		if args := call.Get("function.arguments"); args.Type == gjson.String {
			text = true
			var t string
			if t, err = rl.filterFor(filterKey{choice: i, field: "tool", call: call.Get("index").Int()}).Text(args.Str); err != nil {
				return data, text, blocked(err)
			}
			if data, err = sjson.SetBytes(data, p+"delta.tool_calls."+strconv.Itoa(k)+".function.arguments", t); err != nil {
				return data, text, err
			}
		}
		k++
	}
	if lp := c.Get("logprobs"); lp.Exists() && lp.Type != gjson.Null {
		data, err = sjson.SetBytes(data, p+"logprobs", nil)
	}
	return data, text, err
}

// emitFiltered sends a filtered OpenAI chunk, with what the filters of the
// choices it finishes still hold sent first, in a chunk of its own: the
// held text arrives before finish_reason, as the SDKs' accumulators
// expect (the text of the finishing chunk itself goes first when it has
// some, and finish_reason then follows in one more chunk).
func (rl *relayer) emitFiltered(name, data []byte, fin []finishing) error {
	var after [][]byte
	for _, f := range fin {
		held, err := rl.flushChoice(f.index)
		if err != nil {
			return err
		}
		if len(held) == 0 {
			continue
		}
		chunk, err := rl.heldChunk(f.index, held)
		if err != nil {
			return err
		}
		if !f.hasText {
			if err := rl.emit(nil, chunk); err != nil {
				return err
			}
			continue
		}
		p := "choices." + strconv.Itoa(f.pos) + ".finish_reason"
		reason := gjson.GetBytes(data, p).Raw
		if data, err = sjson.SetRawBytes(data, p, []byte("null")); err != nil {
			return err
		}
		last := append(slices.Clip(rl.head), `"object":"chat.completion.chunk","choices":[{"index":`+strconv.FormatInt(f.index, 10)+`,"delta":{},"finish_reason":`+reason+`}]}`...)
		after = append(after, chunk, last)
	}
	if err := rl.emit(name, data); err != nil {
		return err
	}
	for _, c := range after {
		if err := rl.emit(nil, c); err != nil {
			return err
		}
	}
	return nil
}

// heldText is what one filter still held when flushed.
type heldText struct {
	key  filterKey
	text string
}

// flushChoice flushes and forgets the filters of choice (or Anthropic
// block) i, in a stable order, returning the non-empty remainders.
func (rl *relayer) flushChoice(i int64) ([]heldText, error) {
	var keys []filterKey
	for k := range rl.filters {
		if k.choice == i {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b filterKey) int {
		return cmp.Or(strings.Compare(a.field, b.field), cmp.Compare(a.call, b.call))
	})
	var held []heldText
	for _, k := range keys {
		t, err := rl.filters[k].Flush()
		delete(rl.filters, k)
		if err != nil {
			return nil, blocked(err)
		}
		if t != "" {
			held = append(held, heldText{k, t})
		}
	}
	return held, nil
}

// flushOpenAI sends what every filter still holds — choices whose finish
// never came — as one chunk per choice, before the usage chunk or
// [DONE].
func (rl *relayer) flushOpenAI() error {
	var choices []int64
	for k := range rl.filters {
		if !slices.Contains(choices, k.choice) {
			choices = append(choices, k.choice)
		}
	}
	slices.Sort(choices)
	for _, i := range choices {
		held, err := rl.flushChoice(i)
		if err != nil {
			return err
		}
		if len(held) == 0 {
			continue
		}
		chunk, err := rl.heldChunk(i, held)
		if err != nil {
			return err
		}
		if err := rl.emit(nil, chunk); err != nil {
			return err
		}
	}
	return nil
}

// heldChunk is a chunk of choice i carrying held texts, with the stream's
// identity (SDK accumulators reject a chunk with another id).
func (rl *relayer) heldChunk(i int64, held []heldText) ([]byte, error) {
	b := append(slices.Clip(rl.head), `"object":"chat.completion.chunk","choices":[{"index":`+strconv.FormatInt(i, 10)+`,"delta":{},"finish_reason":null}]}`...)
	var err error
	for _, h := range held {
		if h.key.field == "tool" {
			call := map[string]any{"index": h.key.call, "function": map[string]string{"arguments": h.text}}
			b, err = sjson.SetBytes(b, "choices.0.delta.tool_calls.-1", call)
		} else {
			b, err = sjson.SetBytes(b, "choices.0.delta."+h.key.field, h.text)
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// anthropicFields are the block deltas a filter reads, by delta type: the
// field holding the text.
var anthropicFields = map[string]string{"text_delta": "text", "input_json_delta": "partial_json"}

// filterAnthropic rewrites a text or tool-input delta of block i.
func (rl *relayer) filterAnthropic(data []byte, i int64, typ string, d gjson.Result) ([]byte, error) {
	field, ok := anthropicFields[typ]
	if !ok {
		return data, nil
	}
	out, err := rl.filterFor(filterKey{choice: i, field: typ}).Text(d.Get(field).Str)
	if err != nil {
		return data, blocked(err)
	}
	return sjson.SetBytes(data, "delta."+field, out)
}

// flushAnthropic sends what block i's filter holds before the block stops.
func (rl *relayer) flushAnthropic(i int64) error {
	held, err := rl.flushChoice(i)
	if err != nil {
		return err
	}
	for _, h := range held {
		field := anthropicFields[h.key.field]
		b := []byte(`{"type":"content_block_delta","index":` + strconv.FormatInt(i, 10) + `,"delta":{"type":"` + h.key.field + `"}}`)
		if b, err = sjson.SetBytes(b, "delta."+field, h.text); err != nil {
			return err
		}
		if err := rl.emit([]byte("content_block_delta"), b); err != nil {
			return err
		}
	}
	return nil
}
