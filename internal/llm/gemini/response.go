package gemini

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

type generateResponse struct {
	Candidates     []candidate     `json:"candidates,omitempty"`
	PromptFeedback *promptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
	Error          *apiError       `json:"error,omitempty"`
}

type candidate struct {
	Content      *content `json:"content,omitempty"`
	FinishReason string   `json:"finishReason,omitempty"`
	Index        int      `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason,omitempty"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// DecodeResponse parses a generateContent response (first candidate).
// Errors wrap llm.ErrMalformed.
func DecodeResponse(body []byte) (*llm.Response, error) {
	var in generateResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("gemini response", err)
	}
	if in.Error != nil {
		return nil, llm.Malformed("gemini error body", nil)
	}
	resp := &llm.Response{ID: in.ResponseID, Model: in.ModelVersion, Content: []llm.Block{}}
	if in.UsageMetadata != nil {
		resp.Usage = decodeUsage(in.UsageMetadata)
	}
	if len(in.Candidates) == 0 {
		if in.PromptFeedback == nil || in.PromptFeedback.BlockReason == "" {
			return nil, llm.Malformed("gemini response without candidates", nil)
		}
		resp.StopReason = llm.StopContentFilter
		return resp, nil
	}
	cand := in.Candidates[0]
	ids := &callIDs{}
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			b, err := decodePart(p, true, ids)
			if err != nil {
				return nil, err
			}
			resp.Content = append(resp.Content, b)
		}
	}
	resp.StopReason = decodeFinish(cand.FinishReason, ids.n > 0)
	return resp, nil
}

// decodeFinish maps finishReason; Gemini says STOP even when it called a
// function, so calls turn it into tool_use.
func decodeFinish(s string, calls bool) llm.StopReason {
	switch s {
	case "STOP", "":
		if calls {
			return llm.StopToolUse
		}
		return llm.StopEndTurn
	case "MAX_TOKENS":
		return llm.StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return llm.StopContentFilter
	}
	return llm.StopError
}

func encodeFinish(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return "MAX_TOKENS"
	case llm.StopContentFilter:
		return "SAFETY"
	case llm.StopError:
		return "OTHER"
	}
	return "STOP"
}

// decodeUsage: promptTokenCount already includes cached tokens, but
// candidatesTokenCount excludes thoughts, which canonical output includes.
func decodeUsage(u *usageMetadata) llm.Usage {
	return llm.Usage{
		InputTokens: u.PromptTokenCount, OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CacheReadTokens: u.CachedContentTokenCount, ReasoningTokens: u.ThoughtsTokenCount,
	}
}

func encodeUsage(u llm.Usage) *usageMetadata {
	cand := max(u.OutputTokens-u.ReasoningTokens, 0)
	return &usageMetadata{
		PromptTokenCount: u.InputTokens, CandidatesTokenCount: cand,
		TotalTokenCount:         u.InputTokens + u.OutputTokens,
		CachedContentTokenCount: u.CacheReadTokens, ThoughtsTokenCount: u.ReasoningTokens,
	}
}

// EncodeResponse renders resp as a generateContent response body.
func EncodeResponse(resp *llm.Response) ([]byte, llm.Dropped, error) {
	var d llm.Dropped
	c := &content{Role: "model", Parts: make([]part, 0, len(resp.Content))}
	names := map[string]string{}
	for _, b := range resp.Content {
		if p, ok := encodePart(b, names, &d); ok {
			c.Parts = append(c.Parts, p)
		}
	}
	out := generateResponse{
		Candidates:    []candidate{{Content: c, FinishReason: encodeFinish(resp.StopReason)}},
		UsageMetadata: encodeUsage(resp.Usage), ModelVersion: resp.Model, ResponseID: resp.ID,
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode gemini response: %w", err)
	}
	return body, d, nil
}
