package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// scriptedStream is an OpenAI upstream that answers every chat request
// with the given chunk objects as an SSE stream, then data: [DONE]; a
// non-streamed request gets nonStream as JSON.
func scriptedStream(t *testing.T, nonStream any, chunks ...any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(nonStream)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startGuardedWith runs the bulwark binary with one openai provider per
// upstream (named by the map key) and returns its base URL and a key whose
// guard policy is the config's default (secrets: redact).
func startGuardedWith(t *testing.T, ups map[string]string) (base, key string) {
	bin, err := buildBulwark(t)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bulwark.yaml")
	cfg := "providers:\n"
	for name, url := range ups {
		cfg += fmt.Sprintf("  - {name: %s, type: openai, base_url: %s/v1, api_key_env: FAKE_OPENAI_KEY}\n", name, url)
	}
	cfg += "guard:\n  default: {pii: redact, secrets: redact, injection: log}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	env := append(os.Environ(), "BULWARK_DATA_DIR="+filepath.Join(dir, "data"), "BULWARK_LISTEN="+addr,
		"BULWARK_CONFIG="+cfgPath, "FAKE_OPENAI_KEY="+upstreamKey)
	run := cliRunner(t, bin, env)
	run("init")
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(run("keys", "create", "--name", "g", "--scopes", "llm", "--json"), &created); err != nil || created.Key == "" {
		t.Fatalf("keys create: %v", err)
	}
	base, _, err = serveBinary(t, bin, env, addr)
	if err != nil {
		t.Fatal(err)
	}
	return base, created.Key
}

func chunkOf(choices ...map[string]any) map[string]any {
	return map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": choices}
}

func textDelta(i int, s string) map[string]any {
	return map[string]any{"index": i, "delta": map[string]any{"content": s}, "finish_reason": nil}
}

func finishDelta(i int, reason string) map[string]any {
	return map[string]any{"index": i, "delta": map[string]any{}, "finish_reason": reason}
}

// The guard's streaming redactor, the SDK's own stream helpers, and the
// shapes OpenAI streams take: a short answer, n=2, a tool call.
func TestGuardedOpenAIStreamShapes(t *testing.T) {
	short := scriptedStream(t, nil,
		chunkOf(map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "finish_reason": nil}),
		chunkOf(textDelta(0, "Hello, ")), chunkOf(textDelta(0, "world.")), chunkOf(finishDelta(0, "stop")),
		map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": []any{},
			"usage": map[string]any{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
	two := scriptedStream(t, nil,
		chunkOf(textDelta(0, "Paris is ")), chunkOf(textDelta(1, "Lyon is ")),
		chunkOf(textDelta(0, "in France.")), chunkOf(textDelta(1, "also in France.")),
		chunkOf(finishDelta(0, "stop")), chunkOf(finishDelta(1, "stop")))
	secret := "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789"
	args := `{"api_key":"` + secret + `"}`
	toolStream := func(fn map[string]any) map[string]any {
		return chunkOf(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{fn}}, "finish_reason": nil})
	}
	tool := scriptedStream(t,
		map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls", "message": map[string]any{"role": "assistant", "content": nil,
				"tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "save", "arguments": args}}}}}}},
		toolStream(map[string]any{"index": 0, "id": "call_1", "type": "function", "function": map[string]any{"name": "save", "arguments": ""}}),
		toolStream(map[string]any{"index": 0, "function": map[string]any{"arguments": args[:20]}}),
		toolStream(map[string]any{"index": 0, "function": map[string]any{"arguments": args[20:]}}),
		chunkOf(finishDelta(0, "tool_calls")))
	lp := func(tok string) map[string]any {
		return map[string]any{"token": tok, "logprob": -0.1, "bytes": []byte(tok), "top_logprobs": []any{}}
	}
	other := scriptedStream(t, nil,
		chunkOf(map[string]any{"index": 0, "delta": map[string]any{"refusal": "I will not store " + secret[:20]}, "finish_reason": nil}),
		chunkOf(map[string]any{"index": 0, "delta": map[string]any{"refusal": secret[20:] + " anywhere."}, "finish_reason": nil}),
		chunkOf(finishDelta(0, "stop")))
	logp := scriptedStream(t, nil,
		chunkOf(map[string]any{"index": 0, "delta": map[string]any{"content": "key: " + secret[:20]}, "finish_reason": nil,
			"logprobs": map[string]any{"content": []any{lp("key: "), lp(secret[:20])}}}),
		chunkOf(map[string]any{"index": 0, "delta": map[string]any{"content": secret[20:] + " ok"}, "finish_reason": nil,
			"logprobs": map[string]any{"content": []any{lp(secret[20:]), lp(" ok")}}}),
		chunkOf(finishDelta(0, "stop")))
	base, key := startGuardedWith(t, map[string]string{"short": short.URL, "two": two.URL, "tool": tool.URL, "refuse": other.URL, "logp": logp.URL})
	c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0), option.WithRequestTimeout(20*time.Second))
	ctx := context.Background()
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}

	// openai-go's documented streaming pattern: JustFinishedContent fires
	// when a choice's content is complete (at its finish_reason chunk).
	t.Run("JustFinishedContent has the whole answer", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "short/gpt-4o-mini", Messages: msgs})
		var acc openai.ChatCompletionAccumulator
		var finished []string
		for st.Next() {
			acc.AddChunk(st.Current())
			if content, ok := acc.JustFinishedContent(); ok {
				finished = append(finished, content)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if len(finished) != 1 || finished[0] != "Hello, world." {
			t.Errorf("JustFinishedContent fired with %q; accumulated %q", finished, acc.Choices[0].Message.Content)
		}
	})

	t.Run("include_usage chunk comes last", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "short/gpt-4o-mini", Messages: msgs,
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var kinds []string
		for st.Next() {
			ch := st.Current()
			switch {
			case len(ch.Choices) == 0:
				kinds = append(kinds, "usage")
			case ch.Choices[0].Delta.Content != "":
				kinds = append(kinds, "content")
			case ch.Choices[0].FinishReason != "":
				kinds = append(kinds, "finish")
			default:
				kinds = append(kinds, "other")
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(kinds, ","); !strings.HasSuffix(got, "content,finish,usage") {
			t.Errorf("chunk order %s; the upstream sent ...content,finish,usage", got)
		}
	})

	t.Run("n=2 choices keep their own text", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "two/gpt-4o-mini", Messages: msgs, N: openai.Int(2)})
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range acc.Choices {
			got = append(got, ch.Message.Content)
		}
		if len(got) != 2 || got[0] != "Paris is in France." || got[1] != "Lyon is also in France." {
			t.Errorf("choices = %q", got)
		}
	})

	t.Run("secret in streamed tool arguments is redacted as in a non-streamed answer", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "tool/gpt-4o-mini", Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		nonStream := res.Choices[0].Message.ToolCalls[0].Function.Arguments
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "tool/gpt-4o-mini", Messages: msgs})
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		streamed := acc.Choices[0].Message.ToolCalls[0].Function.Arguments
		if strings.Contains(nonStream, secret) {
			t.Fatalf("non-streamed arguments not redacted either: %s", nonStream)
		}
		if strings.Contains(streamed, secret) {
			t.Errorf("streamed tool arguments carry the secret: %s (non-streamed: %s)", streamed, nonStream)
		}
	})

	t.Run("secret in a streamed refusal or in logprobs is redacted like content", func(t *testing.T) {
		var text, refusal, tokens strings.Builder
		for _, m := range []string{"refuse/gpt-4o-mini", "logp/gpt-4o-mini"} {
			st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: m, Messages: msgs, Logprobs: openai.Bool(true)})
			for st.Next() {
				for _, ch := range st.Current().Choices {
					text.WriteString(ch.Delta.Content)
					refusal.WriteString(ch.Delta.Refusal)
					for _, lp := range ch.Logprobs.Content {
						tokens.WriteString(lp.Token)
					}
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(text.String(), secret) {
			t.Fatalf("content not redacted: %q", text.String())
		}
		if strings.Contains(refusal.String(), secret) || strings.Contains(tokens.String(), secret) {
			t.Errorf("content %q is redacted, but refusal %q and logprob tokens %q carry the secret", text.String(), refusal.String(), tokens.String())
		}
	})
}
