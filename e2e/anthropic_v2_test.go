package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestAnthropicSDKv2 runs the Anthropic SDK scenario of
// anthropic_sdk_test.go with the SDK's v2 module.
func TestAnthropicSDKv2(t *testing.T) {
	runAnthropicSDK(t, anthropicV2)
}

// anthropicV2 is an anthropicClientFunc over the SDK's v2 module. The two
// versions' files differ only in import paths and version numbers
// (TestAnthropicSDKFilesAgree); anthropic_sdk_test.go says why the text
// cannot be shared.
func anthropicV2(base, key string, retries int) anthropicClient {
	opts := []option.RequestOption{option.WithBaseURL(base), option.WithAPIKey(key), option.WithRequestTimeout(20 * time.Second)}
	if retries != sdkDefaultRetries {
		opts = append(opts, option.WithMaxRetries(retries))
	}
	c := anthropic.NewClient(opts...)
	user := func(prompt string) []anthropic.MessageParam {
		return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}
	}
	params := func(turn anthropicTurn) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{Model: turn.Model, MaxTokens: turn.MaxTokens, Messages: user(turn.Prompt)}
	}
	reply := func(m *anthropic.Message) anthropicReply {
		r := anthropicReply{StopReason: string(m.StopReason), InputTokens: m.Usage.InputTokens, OutputTokens: m.Usage.OutputTokens}
		if len(m.Content) > 0 {
			r.Text = m.Content[0].Text
		}
		return r
	}
	send := func(ctx context.Context, p anthropic.MessageNewParams) (anthropicReply, error) {
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			return anthropicReply{}, err
		}
		return reply(m), nil
	}
	stream := func(ctx context.Context, p anthropic.MessageNewParams) (anthropicStream, anthropic.Message) {
		st := c.Messages.NewStreaming(ctx, p)
		var out anthropicStream
		var msg anthropic.Message
		for st.Next() {
			ev := st.Current()
			out.Events++
			out.InputJSONDelta = out.InputJSONDelta || ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta"
			if err := msg.Accumulate(ev); err != nil && out.AccumulateErr == nil {
				out.AccumulateErr = err
			}
		}
		out.Err, out.anthropicReply = st.Err(), reply(&msg)
		return out, msg
	}
	return anthropicClient{
		Message: func(ctx context.Context, turn anthropicTurn) (anthropicReply, error) { return send(ctx, params(turn)) },
		Stream: func(ctx context.Context, turn anthropicTurn) anthropicStream {
			out, _ := stream(ctx, params(turn))
			return out
		},
		Count: func(ctx context.Context, model, prompt string) (int64, error) {
			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model, Messages: user(prompt)})
			if err != nil {
				return 0, err
			}
			return n.InputTokens, nil
		},
		ToolCall: func(ctx context.Context, turn anthropicTurn) (anthropicToolCall, error) {
			p := params(turn)
			p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]string{"type": "string"}}}}}}
			st, msg := stream(ctx, p)
			if len(msg.Content) == 0 {
				return anthropicToolCall{anthropicStream: st}, errors.New("the tool turn has no content")
			}
			tu := msg.Content[0].AsToolUse()
			answer := func(ctx context.Context, result string) (anthropicReply, error) {
				p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, result, false)))
				return send(ctx, p)
			}
			return anthropicToolCall{anthropicStream: st, Name: tu.Name, Input: string(tu.Input), Answer: answer}, nil
		},
		APIError: func(err error) (anthropicAPIError, bool) {
			var e *anthropic.Error
			if !errors.As(err, &e) {
				return anthropicAPIError{}, false
			}
			return anthropicAPIError{Status: e.StatusCode, Raw: e.RawJSON(), RequestID: e.RequestID, Message: e.Error()}, true
		},
	}
}
