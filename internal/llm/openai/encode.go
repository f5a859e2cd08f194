package openai

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// FeatureToolResultError is dropped when a failed tool result goes to
// OpenAI, which has no is_error flag (the text still goes).
const FeatureToolResultError = "tool_result_is_error"

// EncodeRequest renders req as a Chat Completions body for t and lists what
// OpenAI cannot carry. Streams always ask for usage (the gateway needs it
// for accounting); the caller's own wish is req.IncludeUsage.
func EncodeRequest(req *llm.Request, t Target) ([]byte, llm.Dropped, error) {
	var d llm.Dropped
	for _, u := range req.Unsupported {
		d.Add(u)
	}
	out := chatRequest{
		Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty,
		Stream: req.Stream, User: req.User, Metadata: req.Metadata,
	}
	if t.Model != "" {
		out.Model = t.Model
	}
	if req.Stream {
		out.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if t.LegacyMaxTokens {
			out.MaxTokens = &n
		} else {
			out.MaxCompletionTokens = &n
		}
	}
	if req.TopK != nil {
		d.Add(llm.FeatureTopK)
	}
	encodeReasoning(&out, req.Reasoning, &d)
	if len(req.Stop) > 0 {
		out.Stop, _ = json.Marshal(req.Stop)
	}
	for _, b := range req.System {
		if b.Cache != nil {
			d.Add(llm.FeatureCacheControl)
		}
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: jsonString(b.Text)})
	}
	for _, m := range req.Messages {
		msgs, err := encodeMessage(m, &d)
		if err != nil {
			return nil, nil, err
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, tl := range req.Tools {
		if tl.Cache != nil {
			d.Add(llm.FeatureCacheControl)
		}
		out.Tools = append(out.Tools, chatTool{Type: "function", Function: functionDef{Name: tl.Name, Description: tl.Description, Parameters: tl.Schema}})
	}
	out.ToolChoice, out.ParallelToolCalls = encodeToolChoice(req.ToolChoice)
	if rf := req.ResponseFormat; rf != nil {
		out.ResponseFormat = &responseFormat{Type: string(rf.Type)}
		if rf.Type == llm.FormatJSONSchema {
			name := rf.Name
			if name == "" {
				name = "response"
			}
			out.ResponseFormat.JSONSchema = &jsonSchema{Name: name, Schema: rf.Schema, Strict: rf.Strict}
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode openai request: %w", err)
	}
	return llm.AppendExtensions(body, req.Extensions, Dialect, &d), d, nil
}

func encodeReasoning(out *chatRequest, r *llm.Reasoning, d *llm.Dropped) {
	if r == nil {
		return
	}
	if r.Effort != "" {
		out.ReasoningEffort = r.Effort
	}
	if r.BudgetTokens > 0 || r.Type == "enabled" || r.Type == "adaptive" {
		d.Add(llm.FeatureThinking)
	}
}

func encodeToolChoice(tc *llm.ToolChoice) (json.RawMessage, *bool) {
	if tc == nil {
		return nil, nil
	}
	var parallel *bool
	if tc.DisableParallel {
		f := false
		parallel = &f
	}
	switch tc.Mode {
	case llm.ToolNone:
		return jsonString("none"), parallel
	case llm.ToolAny:
		return jsonString("required"), parallel
	case llm.ToolName:
		raw, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		return raw, parallel
	}
	if parallel != nil {
		return nil, parallel
	}
	return jsonString("auto"), nil
}

func encodeMessage(m llm.Message, d *llm.Dropped) ([]chatMessage, error) {
	switch m.Role {
	case llm.RoleUser:
		return []chatMessage{{Role: "user", Content: encodeParts(m.Content, d)}}, nil
	case llm.RoleAssistant:
		return []chatMessage{encodeAssistant(m.Content, d)}, nil
	case llm.RoleTool:
		out := make([]chatMessage, 0, len(m.Content))
		for _, b := range m.Content {
			if b.IsError {
				d.Add(FeatureToolResultError)
			}
			out = append(out, chatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: encodeParts(b.Content, d)})
		}
		return out, nil
	}
	return nil, fmt.Errorf("encode openai request: unknown role %q", m.Role)
}

func encodeAssistant(blocks []llm.Block, d *llm.Dropped) chatMessage {
	msg := chatMessage{Role: "assistant"}
	var text []llm.Block
	for _, b := range blocks {
		if b.Cache != nil {
			d.Add(llm.FeatureCacheControl)
		}
		switch b.Type {
		case llm.BlockToolUse:
			msg.ToolCalls = append(msg.ToolCalls, toolCall{ID: b.ID, Type: "function", Function: function{Name: b.Name, Arguments: string(b.Input)}})
		case llm.BlockThinking, llm.BlockRedactedThinking:
			d.Add(llm.FeatureThinking)
		default:
			text = append(text, b)
		}
	}
	if len(text) > 0 {
		msg.Content = encodeParts(text, d)
	} else if len(msg.ToolCalls) == 0 {
		msg.Content = jsonString("")
	}
	return msg
}

// encodeParts writes a lone uncached text block as a string, anything else
// as an array of parts.
func encodeParts(blocks []llm.Block, d *llm.Dropped) json.RawMessage {
	if len(blocks) == 1 && blocks[0].Type == llm.BlockText {
		if blocks[0].Cache != nil {
			d.Add(llm.FeatureCacheControl)
		}
		return jsonString(blocks[0].Text)
	}
	parts := make([]contentPart, 0, len(blocks))
	for _, b := range blocks {
		if b.Cache != nil {
			d.Add(llm.FeatureCacheControl)
		}
		switch b.Type {
		case llm.BlockText:
			parts = append(parts, contentPart{Type: "text", Text: b.Text})
		case llm.BlockImage:
			parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{URL: dataURL(b.Source)}})
		case llm.BlockDocument:
			parts = appendDocument(parts, b, d)
		case llm.BlockThinking, llm.BlockRedactedThinking:
			d.Add(llm.FeatureThinking)
		}
	}
	raw, _ := json.Marshal(parts)
	return raw
}

func appendDocument(parts []contentPart, b llm.Block, d *llm.Dropped) []contentPart {
	switch b.Source.Kind {
	case llm.SourceBase64:
		return append(parts, contentPart{Type: "file", File: &filePart{FileData: dataURL(b.Source), Filename: b.Title}})
	case llm.SourceText:
		return append(parts, contentPart{Type: "text", Text: b.Source.Data})
	}
	d.Add(llm.FeatureDocument)
	return parts
}

func jsonString(s string) json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}
