package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

func openaiClient(s *stack, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(s.base + "/v1"), option.WithAPIKey(s.key),
		option.WithRequestTimeout(20 * time.Second)}, opts...)...)
}

func TestOpenAISDK(t *testing.T) {
	s := newStack(t)
	t.Logf("bulwark mode: %s", s.mode)
	c := openaiClient(s)
	ctx := context.Background()
	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]string{"type": "string"}}}})

	t.Run("chat", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != "hello gateway" || res.Usage.PromptTokens == 0 {
			t.Errorf("reply = %q usage %+v", res.Choices[0].Message.Content, res.Usage)
		}
		if got := s.openai.Last().Header.Get("Authorization"); got != "Bearer "+upstreamKey {
			t.Errorf("upstream saw Authorization %q, want its own key", got)
		}
	})

	t.Run("stream", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "openai/gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five")}})
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "one two three four five" {
			t.Errorf("streamed %q", got)
		}
	})

	t.Run("tools round trip", func(t *testing.T) {
		for _, model := range []string{"mock/tools", "openai/tools"} {
			params := openai.ChatCompletionNewParams{Model: model, Tools: []openai.ChatCompletionToolUnionParam{weather},
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")}}
			res, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			calls := res.Choices[0].Message.ToolCalls
			if len(calls) != 1 || calls[0].Function.Name != "get_weather" || !strings.Contains(calls[0].Function.Arguments, "Paris") {
				t.Fatalf("%s: tool calls = %+v", model, calls)
			}
			params.Messages = append(params.Messages, res.Choices[0].Message.ToParam(), openai.ToolMessage("18C and sunny", calls[0].ID))
			res, err = c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Choices[0].Message.Content, "18C and sunny") {
				t.Errorf("%s: final answer %q", model, res.Choices[0].Message.Content)
			}
		}
	})

	t.Run("streamed tool call", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "mock/tools", Tools: []openai.ChatCompletionToolUnionParam{weather},
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")}})
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if tc := acc.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Arguments != `{"location":"Paris"}` {
			t.Errorf("accumulated tool calls = %+v", tc)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		for _, f := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small", EncodingFormat: f,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 {
				t.Errorf("%s: embeddings = %+v", f, res.Data)
			}
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, m := range page.Data {
			ids[m.ID] = true
		}
		if !ids["fast"] || !ids["mock/echo"] {
			t.Errorf("models = %v", ids)
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		tests := []struct {
			name   string
			client openai.Client
			model  string
			status int
			code   string
		}{
			{"unknown model", c, "nope/x", http.StatusNotFound, "model_not_found"},
			{"bad key", openaiClient(s, option.WithAPIKey("bw_wrong")), "fast", http.StatusUnauthorized, "invalid_api_key"},
			{"upstream 500", openaiClient(s, option.WithMaxRetries(0)), "mock/error-500", http.StatusBadGateway, "upstream_error"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: tt.model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("err = %v, want *openai.Error", err)
				}
				if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
					t.Errorf("status %d code %q, want %d %q", apiErr.StatusCode, apiErr.Code, tt.status, tt.code)
				}
				if apiErr.Response.Header.Get("X-Request-Id") == "" {
					t.Error("no x-request-id on the error")
				}
				assertNoCredential(t, "error", []byte(apiErr.Error()))
			})
		}
	})

	t.Run("retry on 429", func(t *testing.T) {
		s.openai.SetFault(upstreamtest.Fault{Kind: upstreamtest.Status429, RetryAfter: 1, Times: 1})
		before := len(s.openai.Requests())
		rc := openaiClient(s, option.WithMaxRetries(2))
		res, err := rc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("retry me")}})
		if err != nil {
			t.Fatalf("SDK did not recover from one 429: %v", err)
		}
		if res.Choices[0].Message.Content != "retry me" || len(s.openai.Requests())-before != 2 {
			t.Errorf("reply %q after %d upstream calls", res.Choices[0].Message.Content, len(s.openai.Requests())-before)
		}
	})

	t.Run("mid-stream failure is an SDK error", func(t *testing.T) {
		s.openai.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "fast",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b c d e f g h i j k l")}})
		n := 0
		for st.Next() {
			n++
		}
		if st.Err() == nil {
			t.Fatalf("a cut stream ended as a success after %d chunks", n)
		}
		if !strings.Contains(st.Err().Error(), "upstream_stream_failed") {
			t.Errorf("err = %v", st.Err())
		}
	})

	t.Run("mid-stream error keeps its class", func(t *testing.T) {
		s.openai.SetFault(upstreamtest.Fault{Kind: upstreamtest.StreamError, Times: 1,
			Body: `{"id":"c","object":"chat.completion.chunk","error":{"message":"Rate limit reached for ` + upstreamKey + `","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`})
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "fast",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b c d e f g h i j k l")}})
		n := 0
		for st.Next() {
			n++
		}
		var se *ssestream.StreamError
		if !errors.As(st.Err(), &se) {
			t.Fatalf("after %d chunks err = %v, want the SDK's stream error", n, st.Err())
		}
		var ev struct {
			Error struct{ Type, Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(se.Event.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Error.Type != "rate_limit_error" || ev.Error.Code != "upstream_stream_failed" || ev.Error.Message != "Rate limit reached for [redacted]" {
			t.Errorf("error event %s, want a scrubbed rate_limit_error", se.Event.Data)
		}
		assertNoCredential(t, "error", []byte(st.Err().Error()))
	})

	assertNoCredential(t, "bulwark's log", []byte(s.logs()))
}
