package mock

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"
)

const created = 1700000000

func (h Handler) chat(w http.ResponseWriter, r *http.Request, c call) {
	rep := c.reply(false)
	in := estimate(len(c.body))
	out := estimate(len(rep.text) + len(rep.toolArgs))
	usage := map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
		"prompt_tokens_details": map[string]int64{"cached_tokens": 0}, "completion_tokens_details": map[string]int64{"reasoning_tokens": 0}}
	id := "chatcmpl-mock" + strconv.FormatInt(in, 10)
	finish := "stop"
	if rep.toolName != "" {
		finish = "tool_calls"
	}
	if !c.stream {
		msg := map[string]any{"role": "assistant", "content": rep.text, "refusal": nil}
		if rep.toolName != "" {
			msg["content"] = nil
			msg["tool_calls"] = []map[string]any{{"id": "call_mock1", "type": "function",
				"function": map[string]string{"name": rep.toolName, "arguments": rep.toolArgs}}}
		}
		writeJSON(w, map[string]any{"id": id, "object": "chat.completion", "created": created, "model": c.model,
			"choices": []map[string]any{{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"usage":   usage, "system_fingerprint": nil})
		return
	}
	s := newStream(w, r, c)
	// With include_usage, OpenAI puts "usage":null in every chunk before
	// the final one that carries the counts.
	withUsage := gjson.GetBytes(c.body, "stream_options.include_usage").Bool()
	chunk := func(delta map[string]any, fin any) map[string]any {
		ch := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": c.model,
			"system_fingerprint": nil, "choices": []map[string]any{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": fin}}}
		if withUsage {
			ch["usage"] = nil
		}
		return ch
	}
	events := []map[string]any{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
	if rep.toolName != "" {
		events = append(events, chunk(map[string]any{"tool_calls": []map[string]any{{"index": 0, "id": "call_mock1", "type": "function",
			"function": map[string]string{"name": rep.toolName, "arguments": ""}}}}, nil))
		for _, part := range []string{rep.toolArgs[:len(rep.toolArgs)/2], rep.toolArgs[len(rep.toolArgs)/2:]} {
			events = append(events, chunk(map[string]any{"tool_calls": []map[string]any{{"index": 0, "function": map[string]string{"arguments": part}}}}, nil))
		}
	} else {
		for _, t := range chunks(rep.text) {
			events = append(events, chunk(map[string]any{"content": t}, nil))
		}
	}
	events = append(events, chunk(map[string]any{}, finish))
	if withUsage {
		events = append(events, map[string]any{"id": id, "object": "chat.completion.chunk", "created": created,
			"model": c.model, "system_fingerprint": nil, "choices": []any{}, "usage": usage})
	}
	for _, e := range events {
		if err := s.event("", e); err != nil {
			if errors.Is(err, errCut) {
				abort(w)
			}
			return
		}
	}
	_ = s.w.Event(nil, []byte("[DONE]"))
}

func (h Handler) messages(w http.ResponseWriter, r *http.Request, c call) {
	rep := c.reply(true)
	in := estimate(len(c.body))
	out := estimate(len(rep.text) + len(rep.toolArgs))
	id := "msg_mock" + strconv.FormatInt(in, 10)
	stop := "end_turn"
	block := map[string]any{"type": "text", "text": rep.text}
	if rep.toolName != "" {
		stop = "tool_use"
		block = map[string]any{"type": "tool_use", "id": "toolu_mock1", "name": rep.toolName, "input": json.RawMessage(rep.toolArgs)}
	}
	usage := map[string]any{"input_tokens": in, "output_tokens": out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
	if !c.stream {
		writeJSON(w, map[string]any{"id": id, "type": "message", "role": "assistant", "model": c.model,
			"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": usage})
		return
	}
	s := newStream(w, r, c)
	type ev struct {
		name string
		v    any
	}
	events := []ev{
		{"message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": id, "type": "message",
			"role": "assistant", "model": c.model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": in, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}},
		{"ping", map[string]string{"type": "ping"}},
	}
	if rep.toolName != "" {
		events = append(events, ev{"content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_mock1", "name": rep.toolName, "input": map[string]any{}}}})
		for _, part := range []string{rep.toolArgs[:len(rep.toolArgs)/2], rep.toolArgs[len(rep.toolArgs)/2:]} {
			events = append(events, ev{"content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]string{"type": "input_json_delta", "partial_json": part}}})
		}
	} else {
		events = append(events, ev{"content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""}}})
		for _, t := range chunks(rep.text) {
			events = append(events, ev{"content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]string{"type": "text_delta", "text": t}}})
		}
	}
	events = append(events,
		ev{"content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}},
		ev{"message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": out}}},
		ev{"message_stop", map[string]string{"type": "message_stop"}})
	for _, e := range events {
		if err := s.event(e.name, e.v); err != nil {
			if errors.Is(err, errCut) {
				abort(w)
			}
			return
		}
	}
}
