// Package anthropic is the Anthropic Messages codec: requests, responses
// and stream events to and from the canonical model of package llm,
// including Claude Code's shapes (role:"system" entries inside messages,
// thinking, cache_control, context_management). Functions are safe for
// concurrent use; stream decoders and encoders are not.
package anthropic

import (
	"encoding/json"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// Dialect tags extensions that came from an Anthropic body.
const Dialect = "anthropic"

// API versions (the anthropic-version header) the encoder knows.
const (
	Version20230601 = "2023-06-01"
	// Version20261021 refuses temperature, top_p and top_k.
	Version20261021 = "2026-10-21"
)

// FeatureServerTools names Anthropic server tools (web search, code
// execution) that have no canonical form.
const FeatureServerTools = "server_tools"

// Target is the shared encoding target; this codec reads Model, Version
// and DefaultMaxTokens.
type Target = llm.Target

type messagesRequest struct {
	Model         string          `json:"model"`
	Messages      []message       `json:"messages"`
	System        json.RawMessage `json:"system,omitempty"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Tools         []tool          `json:"tools,omitempty"`
	ToolChoice    *toolChoice     `json:"tool_choice,omitempty"`
	Thinking      *thinking       `json:"thinking,omitempty"`
	Metadata      *metadata       `json:"metadata,omitempty"`
	OutputFormat  *outputFormat   `json:"output_format,omitempty"`
}

var knownRequestKeys = map[string]bool{
	"model": true, "messages": true, "system": true, "max_tokens": true,
	"temperature": true, "top_p": true, "top_k": true, "stop_sequences": true,
	"stream": true, "tools": true, "tool_choice": true, "thinking": true,
	"metadata": true, "output_format": true,
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type block struct {
	Type         string            `json:"type"`
	Text         *string           `json:"text,omitempty"`
	Source       *source           `json:"source,omitempty"`
	Title        string            `json:"title,omitempty"`
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	Input        json.RawMessage   `json:"input,omitempty"`
	ToolUseID    string            `json:"tool_use_id,omitempty"`
	Content      json.RawMessage   `json:"content,omitempty"`
	IsError      bool              `json:"is_error,omitempty"`
	Thinking     *string           `json:"thinking,omitempty"`
	Signature    *string           `json:"signature,omitempty"`
	Data         string            `json:"data,omitempty"`
	CacheControl *llm.CacheControl `json:"cache_control,omitempty"`
}

type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Type         string            `json:"type,omitempty"`
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	InputSchema  json.RawMessage   `json:"input_schema,omitempty"`
	CacheControl *llm.CacheControl `json:"cache_control,omitempty"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id,omitempty"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// DecodeRequest parses a Messages request body. Errors wrap
// llm.ErrMalformed.
func DecodeRequest(body []byte) (*llm.Request, error) {
	var in messagesRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("anthropic request", err)
	}
	req := &llm.Request{
		Model: in.Model, MaxTokens: in.MaxTokens, Temperature: in.Temperature,
		TopP: in.TopP, TopK: in.TopK, Stop: in.StopSequences, Stream: in.Stream,
		IncludeUsage: in.Stream, Messages: []llm.Message{},
	}
	var err error
	if req.System, err = decodeBlocks(req, in.System); err != nil {
		return nil, err
	}
	for _, m := range in.Messages {
		if err := decodeMessage(req, m); err != nil {
			return nil, err
		}
	}
	for _, t := range in.Tools {
		if t.Type != "" && t.Type != "custom" {
			req.Unsupported = append(req.Unsupported, FeatureServerTools)
			continue
		}
		req.Tools = append(req.Tools, llm.Tool{Name: t.Name, Description: t.Description, Schema: t.InputSchema, Cache: t.CacheControl})
	}
	if tc := in.ToolChoice; tc != nil {
		req.ToolChoice = &llm.ToolChoice{Mode: decodeChoiceMode(tc.Type), Name: tc.Name, DisableParallel: tc.DisableParallelToolUse}
	}
	if th := in.Thinking; th != nil {
		req.Reasoning = &llm.Reasoning{Type: th.Type, BudgetTokens: th.BudgetTokens}
	}
	if in.Metadata != nil {
		req.User = in.Metadata.UserID
	}
	if of := in.OutputFormat; of != nil {
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: of.Schema}
	}
	req.Extensions = llm.CollectExtensions(body, Dialect, func(k string) bool { return knownRequestKeys[k] })
	return req, nil
}

func decodeChoiceMode(s string) llm.ToolChoiceMode {
	switch s {
	case "any":
		return llm.ToolAny
	case "tool":
		return llm.ToolName
	case "none":
		return llm.ToolNone
	}
	return llm.ToolAuto
}

// decodeMessage splits a user turn's tool_result blocks into canonical tool
// messages, keeping order, and hoists role:"system" entries.
func decodeMessage(req *llm.Request, m message) error {
	blocks, err := decodeBlocks(req, m.Content)
	if err != nil {
		return err
	}
	switch m.Role {
	case "system":
		req.System = append(req.System, blocks...)
	case "assistant":
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Content: blocks})
	case "user":
		var rest []llm.Block
		flush := func() {
			if len(rest) > 0 {
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: rest})
				rest = nil
			}
		}
		for _, b := range blocks {
			if b.Type == llm.BlockToolResult {
				flush()
				req.Messages = llm.AddToolResult(req.Messages, b)
				continue
			}
			rest = append(rest, b)
		}
		flush()
		if len(blocks) == 0 {
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: []llm.Block{}})
		}
	default:
		return llm.Malformed("anthropic message role", nil)
	}
	return nil
}

// decodeBlocks reads a string or an array of content blocks.
func decodeBlocks(req *llm.Request, raw json.RawMessage) ([]llm.Block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, llm.Malformed("anthropic content", err)
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	}
	var in []block
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, llm.Malformed("anthropic content", err)
	}
	out := make([]llm.Block, 0, len(in))
	for _, b := range in {
		cb, ok, err := decodeBlock(req, b)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cb)
		}
	}
	return out, nil
}

func decodeBlock(req *llm.Request, b block) (llm.Block, bool, error) {
	out := llm.Block{Type: llm.BlockType(b.Type), Cache: b.CacheControl}
	switch out.Type {
	case llm.BlockText:
		out.Text = deref(b.Text)
	case llm.BlockImage, llm.BlockDocument:
		if b.Source == nil {
			return out, false, llm.Malformed("anthropic "+b.Type+" without source", nil)
		}
		out.Title = b.Title
		out.Source = &llm.Source{Kind: llm.SourceKind(b.Source.Type), MediaType: b.Source.MediaType, Data: b.Source.Data, URL: b.Source.URL}
		if k := out.Source.Kind; k != llm.SourceBase64 && k != llm.SourceURL && k != llm.SourceText {
			req.Unsupported = append(req.Unsupported, "source_"+b.Source.Type)
			return out, false, nil
		}
	case llm.BlockToolUse:
		out.ID, out.Name = b.ID, b.Name
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		var ok bool
		if out.Input, ok = llm.CompactObject(input); !ok {
			return out, false, llm.Malformed("anthropic tool_use input is not an object", nil)
		}
	case llm.BlockToolResult:
		out.ToolUseID, out.IsError = b.ToolUseID, b.IsError
		content, err := decodeBlocks(req, b.Content)
		if err != nil {
			return out, false, err
		}
		out.Content = content
	case llm.BlockThinking:
		out.Thinking, out.Signature = deref(b.Thinking), deref(b.Signature)
	case llm.BlockRedactedThinking:
		out.Data = b.Data
	default:
		req.Unsupported = append(req.Unsupported, "block_"+b.Type)
		return out, false, nil
	}
	return out, true, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
