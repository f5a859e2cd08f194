// Package openai is the OpenAI Chat Completions codec: requests, responses
// and stream chunks to and from the canonical model of package llm. It also
// fits OpenAI-compatible servers (Azure OpenAI, Ollama, vLLM, llama.cpp,
// Groq, Together). Functions are safe for concurrent use; stream decoders
// and encoders are not.
package openai

import (
	"encoding/json"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// Dialect tags extensions that came from an OpenAI body.
const Dialect = "openai"

// Target is the shared encoding target; this codec reads Model and
// LegacyMaxTokens.
type Target = llm.Target

type chatRequest struct {
	Model               string            `json:"model"`
	Messages            []chatMessage     `json:"messages"`
	Tools               []chatTool        `json:"tools,omitempty"`
	ToolChoice          json.RawMessage   `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	Stop                json.RawMessage   `json:"stop,omitempty"`
	ResponseFormat      *responseFormat   `json:"response_format,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *streamOptions    `json:"stream_options,omitempty"`
	User                string            `json:"user,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
}

var knownRequestKeys = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true,
	"parallel_tool_calls": true, "max_tokens": true, "max_completion_tokens": true,
	"temperature": true, "top_p": true, "seed": true, "presence_penalty": true,
	"frequency_penalty": true, "stop": true, "response_format": true,
	"reasoning_effort": true, "stream": true, "stream_options": true, "user": true,
	"metadata": true,
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content,omitempty"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []toolCall      `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Refusal          string          `json:"refusal,omitempty"`
}

type contentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
	File     *filePart `json:"file,omitempty"`
	Refusal  string    `json:"refusal,omitempty"`
}

type imageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type filePart struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type toolCall struct {
	Index    *int     `json:"index,omitempty"`
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type,omitempty"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type chatTool struct {
	Type     string      `json:"type"`
	Function functionDef `json:"function"`
}

type functionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type responseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *jsonSchema `json:"json_schema,omitempty"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict bool            `json:"strict,omitempty"`
}

// DecodeRequest parses a Chat Completions request body. Errors wrap
// llm.ErrMalformed.
func DecodeRequest(body []byte) (*llm.Request, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("openai request", err)
	}
	req := &llm.Request{
		Model: in.Model, Temperature: in.Temperature, TopP: in.TopP, Seed: in.Seed,
		PresencePenalty: in.PresencePenalty, FrequencyPenalty: in.FrequencyPenalty,
		Stream: in.Stream, User: in.User, Metadata: in.Metadata,
		Messages: []llm.Message{},
	}
	if in.StreamOptions != nil {
		req.IncludeUsage = in.StreamOptions.IncludeUsage
	}
	if in.MaxCompletionTokens != nil {
		req.MaxTokens = *in.MaxCompletionTokens
	} else if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	if in.ReasoningEffort != "" {
		req.Reasoning = &llm.Reasoning{Effort: in.ReasoningEffort}
	}
	var err error
	if req.Stop, err = decodeStop(in.Stop); err != nil {
		return nil, err
	}
	for _, m := range in.Messages {
		if err := decodeMessage(req, m); err != nil {
			return nil, err
		}
	}
	for _, t := range in.Tools {
		if t.Type != "function" || t.Function.Name == "" {
			return nil, llm.Malformed("openai tool", nil)
		}
		req.Tools = append(req.Tools, llm.Tool{Name: t.Function.Name, Description: t.Function.Description, Schema: t.Function.Parameters})
	}
	if req.ToolChoice, err = decodeToolChoice(in.ToolChoice, in.ParallelToolCalls); err != nil {
		return nil, err
	}
	if rf := in.ResponseFormat; rf != nil {
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.ResponseFormatType(rf.Type)}
		if rf.JSONSchema != nil {
			req.ResponseFormat.Name, req.ResponseFormat.Schema, req.ResponseFormat.Strict = rf.JSONSchema.Name, rf.JSONSchema.Schema, rf.JSONSchema.Strict
		}
	}
	req.Extensions = llm.CollectExtensions(body, Dialect, func(k string) bool { return knownRequestKeys[k] })
	return req, nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, llm.Malformed("openai stop", err)
	}
	return many, nil
}

func decodeToolChoice(raw json.RawMessage, parallel *bool) (*llm.ToolChoice, error) {
	if len(raw) == 0 && parallel == nil {
		return nil, nil
	}
	tc := &llm.ToolChoice{Mode: llm.ToolAuto, DisableParallel: parallel != nil && !*parallel}
	if len(raw) == 0 {
		return tc, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
		case "none":
			tc.Mode = llm.ToolNone
		case "required":
			tc.Mode = llm.ToolAny
		default:
			return nil, llm.Malformed("openai tool_choice", nil)
		}
		return tc, nil
	}
	var obj struct {
		Function struct{ Name string } `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		return nil, llm.Malformed("openai tool_choice", err)
	}
	tc.Mode, tc.Name = llm.ToolName, obj.Function.Name
	return tc, nil
}

func decodeMessage(req *llm.Request, m chatMessage) error {
	switch m.Role {
	case "system", "developer":
		blocks, err := decodeContent(req, m.Content)
		if err != nil {
			return err
		}
		req.System = append(req.System, blocks...)
	case "user":
		blocks, err := decodeContent(req, m.Content)
		if err != nil {
			return err
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: blocks})
	case "assistant":
		return decodeAssistant(req, m)
	case "tool":
		blocks, err := decodeContent(req, m.Content)
		if err != nil {
			return err
		}
		req.Messages = llm.AddToolResult(req.Messages, llm.Block{Type: llm.BlockToolResult, ToolUseID: m.ToolCallID, Content: blocks})
	default:
		return llm.Malformed("openai message role", nil)
	}
	return nil
}

func decodeAssistant(req *llm.Request, m chatMessage) error {
	var blocks []llm.Block
	if m.ReasoningContent != "" {
		blocks = append(blocks, llm.Block{Type: llm.BlockThinking, Thinking: m.ReasoningContent})
	}
	text, err := decodeContent(req, m.Content)
	if err != nil {
		return err
	}
	// Some SDKs send content "" beside tool calls; an empty text block is
	// not a turn Anthropic or Gemini accept, so it is not kept.
	if len(text) == 1 && text[0].Type == llm.BlockText && text[0].Text == "" && len(m.ToolCalls) > 0 {
		text = nil
	}
	blocks = append(blocks, text...)
	for _, tc := range m.ToolCalls {
		b, err := toolUse(tc)
		if err != nil {
			return err
		}
		blocks = append(blocks, b)
	}
	req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Content: blocks})
	return nil
}

func toolUse(tc toolCall) (llm.Block, error) {
	args := tc.Function.Arguments
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	input, ok := llm.CompactObject([]byte(args))
	if !ok {
		return llm.Block{}, llm.Malformed("openai tool call arguments are not a JSON object", nil)
	}
	return llm.Block{Type: llm.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input}, nil
}

// decodeContent reads a string or an array of parts.
func decodeContent(req *llm.Request, raw json.RawMessage) ([]llm.Block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, llm.Malformed("openai content", err)
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, llm.Malformed("openai content", err)
	}
	blocks := make([]llm.Block, 0, len(parts))
	for _, p := range parts {
		switch {
		case p.Type == "text":
			blocks = append(blocks, llm.Block{Type: llm.BlockText, Text: p.Text})
		case p.Type == "refusal":
			blocks = append(blocks, llm.Block{Type: llm.BlockText, Text: p.Refusal})
		case p.Type == "image_url" && p.ImageURL != nil:
			blocks = append(blocks, llm.Block{Type: llm.BlockImage, Source: sourceFromURL(p.ImageURL.URL)})
		case p.Type == "file" && p.File != nil && p.File.FileData != "":
			blocks = append(blocks, llm.Block{Type: llm.BlockDocument, Title: p.File.Filename, Source: sourceFromURL(p.File.FileData)})
		default:
			req.Unsupported = append(req.Unsupported, "content_part_"+p.Type)
		}
	}
	return blocks, nil
}

// sourceFromURL splits a data: URL into media type and base64 data.
func sourceFromURL(u string) *llm.Source {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if mt, data, ok := strings.Cut(rest, ";base64,"); ok {
			return &llm.Source{Kind: llm.SourceBase64, MediaType: mt, Data: data}
		}
	}
	return &llm.Source{Kind: llm.SourceURL, URL: u}
}

func dataURL(s *llm.Source) string {
	if s.Kind == llm.SourceURL {
		return s.URL
	}
	return "data:" + s.MediaType + ";base64," + s.Data
}
