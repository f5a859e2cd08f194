package anthropic

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// EncodeRequest renders req as a Messages body for t and lists what the
// target cannot carry: seed and penalties always; temperature, top_p and
// top_k for version 2026-10-21, which refuses them.
func EncodeRequest(req *llm.Request, t Target) ([]byte, llm.Dropped, error) {
	var d llm.Dropped
	for _, u := range req.Unsupported {
		d.Add(u)
	}
	out := messagesRequest{
		Model: req.Model, MaxTokens: req.MaxTokens, StopSequences: req.Stop, Stream: req.Stream,
		Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK,
	}
	if t.Model != "" {
		out.Model = t.Model
	}
	if out.MaxTokens == 0 {
		out.MaxTokens = max(t.DefaultMaxTokens, 0)
		if out.MaxTokens == 0 {
			out.MaxTokens = 4096
		}
	}
	dropSampling(&out, req, t, &d)
	if len(req.System) > 0 {
		out.System = encodeBlocks(req.System)
	}
	msgs, err := encodeMessages(req.Messages)
	if err != nil {
		return nil, nil, err
	}
	out.Messages = msgs
	for _, tl := range req.Tools {
		schema := tl.Schema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, tool{Name: tl.Name, Description: tl.Description, InputSchema: schema, CacheControl: tl.Cache})
	}
	if tc := req.ToolChoice; tc != nil {
		out.ToolChoice = &toolChoice{Type: string(tc.Mode), Name: tc.Name, DisableParallelToolUse: tc.DisableParallel}
	}
	encodeReasoning(&out, req.Reasoning, &d)
	if req.User != "" {
		out.Metadata = &metadata{UserID: req.User}
	}
	if len(req.Metadata) > 0 {
		d.Add(llm.FeatureMetadata)
	}
	if rf := req.ResponseFormat; rf != nil {
		switch {
		case rf.Type == llm.FormatJSONSchema && len(rf.Schema) > 0:
			out.OutputFormat = &outputFormat{Type: "json_schema", Schema: rf.Schema}
		case rf.Type != llm.FormatText:
			d.Add(llm.FeatureResponseFormat)
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode anthropic request: %w", err)
	}
	return llm.AppendExtensions(body, req.Extensions, Dialect, &d), d, nil
}

func dropSampling(out *messagesRequest, req *llm.Request, t Target, d *llm.Dropped) {
	if req.Seed != nil {
		d.Add(llm.FeatureSeed)
	}
	if req.PresencePenalty != nil {
		d.Add(llm.FeaturePresencePenalty)
	}
	if req.FrequencyPenalty != nil {
		d.Add(llm.FeatureFrequencyPenalty)
	}
	if t.Version != Version20261021 {
		return
	}
	if out.Temperature != nil {
		d.Add(llm.FeatureTemperature)
	}
	if out.TopP != nil {
		d.Add(llm.FeatureTopP)
	}
	if out.TopK != nil {
		d.Add(llm.FeatureTopK)
	}
	out.Temperature, out.TopP, out.TopK = nil, nil, nil
}

func encodeReasoning(out *messagesRequest, r *llm.Reasoning, d *llm.Dropped) {
	if r == nil {
		return
	}
	if r.Effort != "" {
		d.Add(llm.FeatureReasoningEffort)
	}
	if r.Type == "" {
		return
	}
	if r.Type == "disabled" {
		out.Thinking = &thinking{Type: r.Type}
		return
	}
	// Anthropic refuses thinking when tool_choice forces a tool: the
	// forced call is what the caller asked for, so thinking is dropped.
	if tc := out.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
		d.Add(llm.FeatureThinking)
		return
	}
	out.Thinking = &thinking{Type: r.Type, BudgetTokens: r.BudgetTokens}
	// Anthropic refuses sampling changes while thinking: temperature other
	// than 1, any top_k, top_p below 0.95.
	if out.Temperature != nil && *out.Temperature != 1 {
		out.Temperature = nil
		d.Add(llm.FeatureTemperature)
	}
	if out.TopK != nil {
		out.TopK = nil
		d.Add(llm.FeatureTopK)
	}
	if out.TopP != nil && *out.TopP < 0.95 {
		out.TopP = nil
		d.Add(llm.FeatureTopP)
	}
	// max_tokens includes the thinking budget and must exceed it; keep the
	// caller's allowance for the visible answer on top of the budget.
	if r.BudgetTokens >= out.MaxTokens {
		out.MaxTokens += r.BudgetTokens
	}
}

// encodeMessages writes tool messages as user turns of tool_result blocks
// and merges a user turn that follows, so results come first as Anthropic
// requires.
func encodeMessages(msgs []llm.Message) ([]message, error) {
	out := make([]message, 0, len(msgs))
	mergeable := false // the last output message is a tool-result user turn
	var pending []llm.Block
	flush := func() {
		if pending != nil {
			out = append(out, message{Role: "user", Content: encodeBlocks(pending)})
			pending = nil
		}
	}
	for _, m := range msgs {
		switch m.Role {
		case llm.RoleTool:
			if !mergeable {
				flush()
			}
			pending = append(pending, m.Content...)
			mergeable = true
		case llm.RoleUser:
			if mergeable {
				pending = append(pending, m.Content...)
				mergeable = false
				flush()
				continue
			}
			out = append(out, message{Role: "user", Content: encodeBlocks(m.Content)})
		case llm.RoleAssistant:
			flush()
			mergeable = false
			out = append(out, message{Role: "assistant", Content: encodeBlocks(m.Content)})
		default:
			return nil, fmt.Errorf("encode anthropic request: unknown role %q", m.Role)
		}
	}
	flush()
	return out, nil
}

// encodeBlocks writes a lone uncached text block as a string.
func encodeBlocks(blocks []llm.Block) json.RawMessage {
	if len(blocks) == 1 && blocks[0].Type == llm.BlockText && blocks[0].Cache == nil {
		raw, _ := json.Marshal(blocks[0].Text)
		return raw
	}
	out := make([]block, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, encodeBlock(b))
	}
	raw, _ := json.Marshal(out)
	return raw
}

func encodeBlock(b llm.Block) block {
	out := block{Type: string(b.Type), CacheControl: b.Cache}
	switch b.Type {
	case llm.BlockText:
		out.Text = &b.Text
	case llm.BlockImage, llm.BlockDocument:
		out.Title = b.Title
		if s := b.Source; s != nil {
			out.Source = &source{Type: string(s.Kind), MediaType: s.MediaType, Data: s.Data, URL: s.URL}
		}
	case llm.BlockToolUse:
		out.ID, out.Name, out.Input = SafeID(b.ID), b.Name, b.Input
	case llm.BlockToolResult:
		out.ToolUseID, out.IsError = SafeID(b.ToolUseID), b.IsError
		if len(b.Content) > 0 {
			out.Content = encodeBlocks(b.Content)
		}
	case llm.BlockThinking:
		out.Thinking, out.Signature = &b.Thinking, &b.Signature
	case llm.BlockRedactedThinking:
		out.Data = b.Data
	}
	return out
}

// SafeID maps a tool call id onto Anthropic's alphabet [a-zA-Z0-9_-]
// deterministically, so a tool_use and its tool_result still match.
func SafeID(id string) string {
	ok := true
	for _, r := range id {
		if !isIDRune(r) {
			ok = false
			break
		}
	}
	if ok {
		return id
	}
	return strings.Map(func(r rune) rune {
		if isIDRune(r) {
			return r
		}
		return '_'
	}, id)
}

func isIDRune(r rune) bool {
	return r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
