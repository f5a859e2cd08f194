package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

type messageResponse struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        usage   `json:"usage"`
}

type usage struct {
	InputTokens              int            `json:"input_tokens"`
	OutputTokens             int            `json:"output_tokens"`
	CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
	CacheCreation            *cacheCreation `json:"cache_creation,omitempty"`
}

// cacheCreation splits cache writes by TTL (they are billed differently).
type cacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

// DecodeResponse parses a Messages response body. Errors wrap
// llm.ErrMalformed.
func DecodeResponse(body []byte) (*llm.Response, error) {
	var in messageResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("anthropic response", err)
	}
	if in.Type != "message" {
		return nil, llm.Malformed("anthropic response type", nil)
	}
	resp := &llm.Response{ID: in.ID, Model: in.Model, Content: make([]llm.Block, 0, len(in.Content)), Usage: decodeUsage(in.Usage)}
	var scratch llm.Request
	for _, b := range in.Content {
		cb, ok, err := decodeBlock(&scratch, b)
		if err != nil {
			return nil, err
		}
		if ok {
			resp.Content = append(resp.Content, cb)
		}
	}
	if in.StopReason != nil {
		resp.StopReason = decodeStop(*in.StopReason)
	}
	if in.StopSequence != nil {
		resp.StopSequence = *in.StopSequence
	}
	return resp, nil
}

func decodeStop(s string) llm.StopReason {
	switch s {
	case "end_turn", "pause_turn":
		return llm.StopEndTurn
	case "max_tokens", "model_context_window_exceeded":
		return llm.StopMaxTokens
	case "stop_sequence":
		return llm.StopSequence
	case "tool_use":
		return llm.StopToolUse
	case "refusal":
		return llm.StopContentFilter
	}
	return llm.StopError
}

func encodeStop(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return "max_tokens"
	case llm.StopSequence:
		return "stop_sequence"
	case llm.StopToolUse:
		return "tool_use"
	case llm.StopContentFilter:
		return "refusal"
	}
	return "end_turn"
}

// decodeUsage folds cache reads and writes into canonical InputTokens:
// Anthropic's input_tokens counts only the uncached rest.
func decodeUsage(u usage) llm.Usage {
	out := llm.Usage{
		InputTokens:     u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:    u.OutputTokens,
		CacheReadTokens: u.CacheReadInputTokens, CacheCreationTokens: u.CacheCreationInputTokens,
	}
	if u.CacheCreation != nil {
		out.CacheCreation1hTokens = u.CacheCreation.Ephemeral1h
	}
	return out
}

func encodeUsage(u llm.Usage) usage {
	out := usage{
		InputTokens:  max(u.InputTokens-u.CacheReadTokens-u.CacheCreationTokens, 0),
		OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadTokens,
		CacheCreationInputTokens: u.CacheCreationTokens,
	}
	if u.CacheCreation1hTokens > 0 {
		out.CacheCreation = &cacheCreation{Ephemeral5m: max(u.CacheCreationTokens-u.CacheCreation1hTokens, 0), Ephemeral1h: u.CacheCreation1hTokens}
	}
	return out
}

// EncodeResponse renders resp as a Messages response body. Anthropic
// carries every canonical block, so nothing is dropped.
func EncodeResponse(resp *llm.Response) ([]byte, llm.Dropped, error) {
	stop := encodeStop(resp.StopReason)
	out := messageResponse{
		ID: resp.ID, Type: "message", Role: "assistant", Model: resp.Model,
		Content: make([]block, 0, len(resp.Content)), StopReason: &stop, Usage: encodeUsage(resp.Usage),
	}
	if resp.StopSequence != "" {
		out.StopSequence = &resp.StopSequence
	}
	for _, b := range resp.Content {
		out.Content = append(out.Content, encodeBlock(b))
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode anthropic response: %w", err)
	}
	return body, nil, nil
}
