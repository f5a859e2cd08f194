// Package llm holds the canonical request, response and stream-event model
// that every dialect codec (openai, anthropic, gemini in the subpackages)
// maps to and from. A request decoded from one dialect can be encoded for an
// upstream of another; whatever the target cannot carry is reported by name
// in a Dropped list rather than lost silently.
//
// The canonical form is normalised so that decode(encode(x)) == x for what a
// dialect can carry:
//   - every system prompt (Anthropic system, role:"system" entries inside
//     messages, OpenAI system/developer messages, Gemini systemInstruction)
//     is hoisted into Request.System, one text block per entry;
//   - tool results live in messages of RoleTool that hold only
//     BlockToolResult blocks; consecutive results are merged into one such
//     message;
//   - InputTokens counts every prompt token, cached ones included, and
//     OutputTokens counts every generated token, reasoning included.
//
// Values of these types are plain data: not safe for concurrent mutation,
// safe to read from many goroutines once built.
package llm

import "encoding/json"

// Role is the author of a message.
type Role string

// Message roles. System prompts are not messages: see Request.System.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool" // holds only BlockToolResult blocks
)

// BlockType says what a content block carries.
type BlockType string

// Content block types.
const (
	BlockText             BlockType = "text"
	BlockImage            BlockType = "image"
	BlockDocument         BlockType = "document"
	BlockToolUse          BlockType = "tool_use"
	BlockToolResult       BlockType = "tool_result"
	BlockThinking         BlockType = "thinking"
	BlockRedactedThinking BlockType = "redacted_thinking"
)

// Block is one part of a message's content. Which fields are set depends on
// Type; the others stay zero.
type Block struct {
	Type BlockType `json:"type"`
	// Text is the text of a text block.
	Text string `json:"text,omitempty"`
	// Source is the payload of an image or document block.
	Source *Source `json:"source,omitempty"`
	// Title names a document (optional).
	Title string `json:"title,omitempty"`
	// ID is the tool call id of a tool_use block.
	ID string `json:"id,omitempty"`
	// Name is the tool name of a tool_use block, and of a tool_result when
	// the dialect says it (Gemini needs it).
	Name string `json:"name,omitempty"`
	// Input holds the JSON arguments of a tool_use block (always an object).
	Input json.RawMessage `json:"input,omitempty"`
	// ToolUseID links a tool_result to its tool_use.
	ToolUseID string `json:"tool_use_id,omitempty"`
	// Content is the body of a tool_result (text and image blocks).
	Content []Block `json:"content,omitempty"`
	// IsError marks a failed tool_result.
	IsError bool `json:"is_error,omitempty"`
	// Thinking is the text of a thinking block.
	Thinking string `json:"thinking,omitempty"`
	// Signature authenticates a thinking block for the vendor that made it.
	Signature string `json:"signature,omitempty"`
	// Data is the opaque payload of a redacted_thinking block.
	Data string `json:"data,omitempty"`
	// Cache is a prompt-cache breakpoint (Anthropic cache_control).
	Cache *CacheControl `json:"cache_control,omitempty"`
}

// SourceKind says how image or document bytes are given.
type SourceKind string

// Source kinds.
const (
	SourceBase64 SourceKind = "base64"
	SourceURL    SourceKind = "url"
	SourceText   SourceKind = "text" // plain-text document
)

// Source is the payload of an image or document.
type Source struct {
	Kind      SourceKind `json:"kind"`
	MediaType string     `json:"media_type,omitempty"`
	Data      string     `json:"data,omitempty"` // base64 or plain text
	URL       string     `json:"url,omitempty"`
}

// CacheControl is a prompt-cache breakpoint.
type CacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// Message is one turn of the conversation.
type Message struct {
	Role    Role    `json:"role"`
	Content []Block `json:"content"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"` // JSON Schema of the arguments
	Cache       *CacheControl   `json:"cache_control,omitempty"`
}

// ToolChoiceMode says whether and which tool the model must call.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolAuto ToolChoiceMode = "auto"
	ToolNone ToolChoiceMode = "none"
	ToolAny  ToolChoiceMode = "any"  // OpenAI "required", Gemini ANY
	ToolName ToolChoiceMode = "tool" // exactly the tool in Name
)

// ToolChoice constrains tool calling.
type ToolChoice struct {
	Mode ToolChoiceMode `json:"mode"`
	Name string         `json:"name,omitempty"`
	// DisableParallel forbids more than one tool call per turn.
	DisableParallel bool `json:"disable_parallel,omitempty"`
}

// ResponseFormatType is the kind of output constraint.
type ResponseFormatType string

// Response format kinds.
const (
	FormatText       ResponseFormatType = "text"
	FormatJSONObject ResponseFormatType = "json_object"
	FormatJSONSchema ResponseFormatType = "json_schema"
)

// ResponseFormat asks for JSON output, optionally matching a schema.
type ResponseFormat struct {
	Type   ResponseFormatType `json:"type"`
	Name   string             `json:"name,omitempty"`
	Schema json.RawMessage    `json:"schema,omitempty"`
	Strict bool               `json:"strict,omitempty"`
}

// Reasoning configures extended thinking.
type Reasoning struct {
	// Type is "enabled", "disabled" or "adaptive" (Anthropic thinking.type).
	Type string `json:"type,omitempty"`
	// BudgetTokens caps thinking tokens (Anthropic budget_tokens, Gemini
	// thinkingBudget).
	BudgetTokens int `json:"budget_tokens,omitempty"`
	// Effort is OpenAI's reasoning_effort (minimal, low, medium, high).
	Effort string `json:"effort,omitempty"`
}

// Extension is a top-level request field the canonical model does not
// cover, kept raw so an encoder of the same dialect can re-emit it; encoders
// of other dialects report its Key as dropped.
type Extension struct {
	Dialect string          `json:"dialect"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
}

// Request is a canonical chat request.
type Request struct {
	Model    string    `json:"model,omitempty"`
	System   []Block   `json:"system,omitempty"` // text blocks only
	Messages []Message `json:"messages"`

	Tools      []Tool      `json:"tools,omitempty"`
	ToolChoice *ToolChoice `json:"tool_choice,omitempty"`

	MaxTokens        int      `json:"max_tokens,omitempty"` // 0: unset
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	TopK             *int     `json:"top_k,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	Stop             []string `json:"stop,omitempty"`

	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Reasoning      *Reasoning      `json:"reasoning,omitempty"`

	Stream       bool `json:"stream,omitempty"`
	IncludeUsage bool `json:"include_usage,omitempty"` // usage in the stream

	User     string            `json:"user,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`

	// Extensions are dialect-specific top-level fields (Claude Code's
	// context_management, OpenAI's service_tier, Gemini's safetySettings).
	Extensions []Extension `json:"extensions,omitempty"`
	// Unsupported names what the decoder met but could not represent
	// (for example an audio part); encoders report these as dropped.
	Unsupported []string `json:"unsupported,omitempty"`
}

// StopReason is why generation ended.
type StopReason string

// Canonical stop reasons.
const (
	StopEndTurn       StopReason = "end_turn"
	StopMaxTokens     StopReason = "max_tokens"
	StopSequence      StopReason = "stop_sequence"
	StopToolUse       StopReason = "tool_use"
	StopContentFilter StopReason = "content_filter"
	StopError         StopReason = "error"
)

// Usage counts tokens. InputTokens includes CacheReadTokens and
// CacheCreationTokens; OutputTokens includes ReasoningTokens.
type Usage struct {
	InputTokens         int `json:"input_tokens"`
	OutputTokens        int `json:"output_tokens"`
	CacheReadTokens     int `json:"cache_read_tokens,omitempty"`
	CacheCreationTokens int `json:"cache_creation_tokens,omitempty"`
	// CacheCreation1hTokens is the part of CacheCreationTokens written
	// with a one-hour TTL (Anthropic bills it at 2× input, not 1.25×).
	CacheCreation1hTokens int `json:"cache_creation_1h_tokens,omitempty"`
	ReasoningTokens       int `json:"reasoning_tokens,omitempty"`
}

// Response is a canonical, complete (non-streamed) model answer.
type Response struct {
	ID           string     `json:"id"`
	Model        string     `json:"model"`
	Created      int64      `json:"created,omitempty"` // unix seconds, when known
	Content      []Block    `json:"content"`
	StopReason   StopReason `json:"stop_reason"`
	StopSequence string     `json:"stop_sequence,omitempty"`
	Usage        Usage      `json:"usage"`
}
