package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/provider"
)

// Filtered streams (a response filter such as the guardrails' redactor)
// keep the shape the SDKs rely on and leave no text unfiltered.

// sseData returns the data payloads of an SSE body, in order.
func sseData(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// scriptedOpenAI is an OpenAI upstream that streams the given chunk
// payloads (then [DONE]) to every chat request.
func scriptedOpenAI(t *testing.T, chunks ...string) envOpt {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			fmt.Fprintf(w, "data: %s\n\n", c)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	return func(_ *Config, d *Deps) {
		d.Providers = mapSource{{Name: "openai", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
			Credential: func(context.Context) (string, error) { return upstreamKey, nil }}}
	}
}

// A client that asked for include_usage gets the usage chunk (choices: [])
// exactly once, after every content chunk: OpenAI sends it last, and
// clients treat it as the end of the answer. With a response filter that
// holds text back (every redactor does), the held text must not arrive
// after the usage chunk, nor after the choice's finish_reason chunk.
func TestFilteredStreamUsageChunkIsLast(t *testing.T) {
	e := newEnv(t, func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"mock/echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"abc def ghi"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	data := sseData(b)
	if len(data) == 0 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]:\n%s", b)
	}
	usageAt, finishAt, lastContent := -1, -1, -1
	for i, d := range data[:len(data)-1] {
		c := gjson.Parse(d)
		if u := c.Get("usage"); u.IsObject() {
			if usageAt >= 0 {
				t.Errorf("usage chunk sent twice:\n%s", b)
			}
			usageAt = i
		}
		if c.Get("choices.0.finish_reason").Str != "" {
			finishAt = i
		}
		if c.Get("choices.0.delta.content").Str != "" {
			lastContent = i
		}
	}
	if usageAt != len(data)-2 {
		t.Errorf("usage chunk at %d, want %d (last before [DONE]):\n%s", usageAt, len(data)-2, b)
	}
	if lastContent > finishAt {
		t.Errorf("content chunk %d after the finish_reason chunk %d:\n%s", lastContent, finishAt, b)
	}
}

// With n=2 OpenAI interleaves the choices' chunks, each naming its choice
// by index. A filter must rewrite each choice's text as that choice's:
// text of one choice may never be delivered as part of another.
func TestFilteredStreamKeepsChoicesApart(t *testing.T) {
	chunk := func(i int, content string) string {
		return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":%d,"delta":{"content":%q},"finish_reason":null}]}`, i, content)
	}
	fin := func(i int) string {
		return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":%d,"delta":{},"finish_reason":"stop"}]}`, i)
	}
	e := newEnv(t, scriptedOpenAI(t, chunk(0, "zero "), chunk(1, "one "), chunk(0, "zero"), chunk(1, "one"), fin(0), fin(1)),
		func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions",
		`{"model":"fast","stream":true,"n":2,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	text := map[int64]string{}
	for _, d := range sseData(b) {
		gjson.Get(d, "choices").ForEach(func(_, c gjson.Result) bool {
			text[c.Get("index").Int()] += c.Get("delta.content").Str
			return true
		})
	}
	if text[0] != "ZERO ZERO" || text[1] != "ONE ONE" {
		t.Errorf("choice 0 = %q, choice 1 = %q; want \"ZERO ZERO\" and \"ONE ONE\":\n%s", text[0], text[1], b)
	}
}

// Every text of a filtered OpenAI stream goes through a filter — tool-call
// arguments and refusals as content does (the non-streamed path scans
// every string) — and logprobs, whose token texts cannot be redacted piece
// by piece, are dropped.
func TestFilteredStreamCoversEveryText(t *testing.T) {
	head := `{"id":"c9","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini","choices":[`
	e := newEnv(t, scriptedOpenAI(t,
		head+`{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"save","arguments":""}}]},"finish_reason":null}]}`,
		head+`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"api_key\":\"sk-"}}]},"finish_reason":null}]}`,
		head+`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"abc\"}"}}]},"finish_reason":null}]}`,
		head+`{"index":1,"delta":{"refusal":"i will not "},"logprobs":{"content":[{"token":"i","logprob":-0.1}]},"finish_reason":null}]}`,
		head+`{"index":1,"delta":{"refusal":"store it"},"finish_reason":null}]}`,
		head+`{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		head+`{"index":1,"delta":{},"finish_reason":"stop"}]}`,
	), func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","stream":true,"n":2,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var args, refusal string
	for _, d := range sseData(b) {
		gjson.Get(d, "choices").ForEach(func(_, c gjson.Result) bool {
			c.Get("delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
				args += tc.Get("function.arguments").Str
				return true
			})
			refusal += c.Get("delta.refusal").Str
			if lp := c.Get("logprobs"); lp.Exists() && lp.Type != gjson.Null {
				t.Errorf("logprobs reached the client through a filter: %s", lp.Raw)
			}
			return true
		})
	}
	if args != `{"API_KEY":"SK-ABC"}` || refusal != "I WILL NOT STORE IT" {
		t.Errorf("tool arguments %q, refusal %q; want both through the filter:\n%s", args, refusal, b)
	}
}

// Text a filter still holds when a stream ends without finish_reason goes
// out in one more chunk before [DONE], carrying the stream's identity
// (SDK accumulators reject a chunk with another id).
func TestFilteredStreamFlushChunkKeepsIdentity(t *testing.T) {
	e := newEnv(t, scriptedOpenAI(t,
		`{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"abc "},"finish_reason":null}]}`,
		`{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"def"},"finish_reason":null}]}`,
	), func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
	_, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	data := sseData(b)
	if len(data) < 2 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream: %s", b)
	}
	last := gjson.Parse(data[len(data)-2])
	if last.Get("choices.0.delta.content").Str != "DEF" || last.Get("id").Str != "chatcmpl-7" || last.Get("created").Int() != 1700000000 || last.Get("model").Str != "gpt-4o-mini" {
		t.Errorf("flushed chunk %s", last.Raw)
	}
}

// An Anthropic stream's tool input goes through a filter as its text does,
// each block with its own, flushed before the block stops; thinking is
// left as signed.
func TestFilteredAnthropicStreamCoversToolInput(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	up := ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}`) +
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`) +
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"save","input":{}}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"key\":\"sk-"}}`) +
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"abc\"}"}}`) +
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}`) +
		ev("message_stop", `{"type":"message_stop"}`)
	e := newEnv(t, rawAnthropic(t, up), func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
	resp, b := e.do(t, http.MethodPost, "/v1/messages", `{"model":"raw/claude-x","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var input, thinking string
	stopped := map[int64]bool{}
	for _, d := range sseData(b) {
		c := gjson.Parse(d)
		switch c.Get("type").Str {
		case "content_block_delta":
			if stopped[c.Get("index").Int()] {
				t.Errorf("a delta after its block stopped: %s", d)
			}
			input += c.Get("delta.partial_json").Str
			thinking += c.Get("delta.thinking").Str
		case "content_block_stop":
			stopped[c.Get("index").Int()] = true
		}
	}
	if input != `{"KEY":"SK-ABC"}` || thinking != "hmm" {
		t.Errorf("tool input %q, thinking %q; want the input filtered and the thinking as signed:\n%s", input, thinking, b)
	}
}
