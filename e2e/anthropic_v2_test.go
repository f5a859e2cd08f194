package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

func TestAnthropicSDKv2(t *testing.T) {
	s := newStack(t)
	t.Logf("bulwark mode: %s", s.mode)
	newClient := func(opts ...option.RequestOption) anthropic.Client {
		return anthropic.NewClient(append([]option.RequestOption{option.WithBaseURL(s.base), option.WithAPIKey(s.key),
			option.WithRequestTimeout(20 * time.Second)}, opts...)...)
	}
	c := newClient()
	ctx := context.Background()
	user := func(text string) []anthropic.MessageParam {
		return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}
	}
	weather := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]string{"type": "string"}}}}}}

	t.Run("messages", func(t *testing.T) {
		msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "smart", MaxTokens: 64, Messages: user("hello claude")})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Content[0].Text != "hello claude" || msg.Usage.InputTokens == 0 {
			t.Errorf("reply %+v", msg)
		}
		if h := s.anth.Last().Header; h.Get("X-Api-Key") != upstreamKey || h.Get("Authorization") != "" {
			t.Errorf("upstream auth headers = %v", h)
		}
	})

	t.Run("stream", func(t *testing.T) {
		st := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64, Messages: user("one two three")})
		var msg anthropic.Message
		for st.Next() {
			if err := msg.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if msg.Content[0].Text != "one two three" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens == 0 {
			t.Errorf("accumulated %+v", msg)
		}
	})

	t.Run("tool_use round trip with input_json_delta", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "anthropic/tools", MaxTokens: 64, Tools: weather, Messages: user("weather in Paris?")}
		st := c.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		sawDelta := false
		for st.Next() {
			ev := st.Current()
			if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" {
				sawDelta = true
			}
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		tu := msg.Content[0].AsToolUse()
		if !sawDelta || tu.Name != "get_weather" || !strings.Contains(string(tu.Input), "Paris") {
			t.Fatalf("tool use %+v (input_json_delta seen: %v)", msg.Content, sawDelta)
		}
		params.Messages = append(params.Messages, msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "18C and sunny", false)))
		res, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Content[0].Text, "18C and sunny") {
			t.Errorf("final answer %+v", res.Content)
		}
	})

	t.Run("count_tokens", func(t *testing.T) {
		for _, model := range []anthropic.Model{"smart", "mock/echo"} {
			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model,
				Messages: user("count these tokens please")})
			if err != nil {
				t.Fatal(err)
			}
			if n.InputTokens <= 0 {
				t.Errorf("%s: input_tokens = %d", model, n.InputTokens)
			}
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		tests := []struct {
			name   string
			client anthropic.Client
			model  anthropic.Model
			status int
			typ    string
		}{
			{"unknown model", c, "nope/x", http.StatusNotFound, "not_found_error"},
			{"bad key", newClient(option.WithAPIKey("bw_wrong")), "smart", http.StatusUnauthorized, "authentication_error"},
			{"upstream overloaded", newClient(option.WithMaxRetries(0)), "mock/error-529", http.StatusServiceUnavailable, "overloaded_error"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.client.Messages.New(ctx, anthropic.MessageNewParams{Model: tt.model, MaxTokens: 8, Messages: user("x")})
				var apiErr *anthropic.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("err = %v, want *anthropic.Error", err)
				}
				if apiErr.StatusCode != tt.status || !strings.Contains(apiErr.RawJSON(), `"type":"`+tt.typ+`"`) {
					t.Errorf("status %d body %s, want %d %s", apiErr.StatusCode, apiErr.RawJSON(), tt.status, tt.typ)
				}
				if apiErr.RequestID == "" {
					t.Error("no request-id on the error")
				}
				assertNoCredential(t, "error", []byte(apiErr.Error()))
			})
		}
	})

	t.Run("mid-stream failure is an SDK error", func(t *testing.T) {
		s.anth.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
		st := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "smart", MaxTokens: 64, Messages: user("a b c d e f g h")})
		n := 0
		for st.Next() {
			n++
		}
		if st.Err() == nil {
			t.Fatalf("a cut stream ended as a success after %d events", n)
		}
	})

	assertNoCredential(t, "bulwark's log", []byte(s.logs()))
}
