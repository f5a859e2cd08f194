package openai

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []choice     `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
	Error   *errorObject `json:"error,omitempty"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      *respMessage `json:"message,omitempty"`
	Delta        *respMessage `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
}

type respMessage struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	Refusal          *string    `json:"refusal,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

type usage struct {
	PromptTokens            int             `json:"prompt_tokens"`
	CompletionTokens        int             `json:"completion_tokens"`
	TotalTokens             int             `json:"total_tokens"`
	PromptTokensDetails     *promptDetails  `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *completionDets `json:"completion_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type completionDets struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	// Code is a string for OpenAI ("rate_limit_exceeded"), a number (an
	// HTTP status) for some compatible servers, or null.
	Code json.RawMessage `json:"code"`
}

// DecodeResponse parses a chat.completion body (first choice). Errors wrap
// llm.ErrMalformed.
func DecodeResponse(body []byte) (*llm.Response, error) {
	var in chatResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("openai response", err)
	}
	if len(in.Choices) == 0 || in.Choices[0].Message == nil {
		return nil, llm.Malformed("openai response without choices", nil)
	}
	resp := &llm.Response{ID: in.ID, Model: in.Model, Created: in.Created, Content: []llm.Block{}}
	m := in.Choices[0].Message
	if m.ReasoningContent != "" {
		resp.Content = append(resp.Content, llm.Block{Type: llm.BlockThinking, Thinking: m.ReasoningContent})
	}
	if m.Content != nil && *m.Content != "" {
		resp.Content = append(resp.Content, llm.Block{Type: llm.BlockText, Text: *m.Content})
	}
	if m.Refusal != nil && *m.Refusal != "" {
		resp.Content = append(resp.Content, llm.Block{Type: llm.BlockText, Text: *m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		b, err := toolUse(tc)
		if err != nil {
			return nil, err
		}
		resp.Content = append(resp.Content, b)
	}
	if fr := in.Choices[0].FinishReason; fr != nil {
		resp.StopReason = decodeFinish(*fr)
	}
	if in.Usage != nil {
		resp.Usage = decodeUsage(in.Usage)
	}
	return resp, nil
}

func decodeFinish(s string) llm.StopReason {
	switch s {
	case "stop":
		return llm.StopEndTurn
	case "length":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopContentFilter
	}
	return llm.StopError
}

func encodeFinish(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

func decodeUsage(u *usage) llm.Usage {
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CacheReadTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

// encodeUsage reports cache creation as plain input: OpenAI has no field
// for it, and the total stays right.
func encodeUsage(u llm.Usage) *usage {
	return &usage{
		PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens,
		TotalTokens:             u.InputTokens + u.OutputTokens,
		PromptTokensDetails:     &promptDetails{CachedTokens: u.CacheReadTokens},
		CompletionTokensDetails: &completionDets{ReasoningTokens: u.ReasoningTokens},
	}
}

// EncodeResponse renders resp as a chat.completion body and lists what
// OpenAI cannot carry (thinking blocks).
func EncodeResponse(resp *llm.Response) ([]byte, llm.Dropped, error) {
	var d llm.Dropped
	m := &respMessage{Role: "assistant"}
	var text string
	hasText := false
	for _, b := range resp.Content {
		switch b.Type {
		case llm.BlockText:
			text += b.Text
			hasText = true
		case llm.BlockToolUse:
			m.ToolCalls = append(m.ToolCalls, toolCall{ID: b.ID, Type: "function", Function: function{Name: b.Name, Arguments: string(b.Input)}})
		default:
			d.Add(llm.FeatureThinking)
		}
	}
	if hasText {
		m.Content = &text
	}
	fr := encodeFinish(resp.StopReason)
	out := chatResponse{
		ID: resp.ID, Object: "chat.completion", Created: resp.Created, Model: resp.Model,
		Choices: []choice{{Message: m, FinishReason: &fr}},
		Usage:   encodeUsage(resp.Usage),
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode openai response: %w", err)
	}
	return body, d, nil
}
