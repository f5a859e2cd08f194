package llm

// EventType is the kind of a canonical stream event. The sequence mirrors
// Anthropic's: message_start, then for each content block block_start,
// block_delta..., block_stop, then message_delta (stop reason and final
// usage) and done. Ping may appear anywhere; error ends the stream without
// done.
type EventType string

// Stream event types.
const (
	EventMessageStart EventType = "message_start"
	EventBlockStart   EventType = "block_start"
	EventBlockDelta   EventType = "block_delta"
	EventBlockStop    EventType = "block_stop"
	EventMessageDelta EventType = "message_delta"
	EventPing         EventType = "ping"
	EventError        EventType = "error"
	EventDone         EventType = "done"
)

// DeltaType is what a block_delta adds.
type DeltaType string

// Delta types.
const (
	DeltaText      DeltaType = "text"
	DeltaInputJSON DeltaType = "input_json" // a fragment of tool-call arguments
	DeltaThinking  DeltaType = "thinking"
	DeltaSignature DeltaType = "signature" // thinking signature
)

// Delta is an increment of a content block.
type Delta struct {
	Type DeltaType `json:"type"`
	Text string    `json:"text"`
}

// StreamError is the public face of a failure inside a stream. Message must
// never hold an upstream body or a secret.
type StreamError struct {
	Type    string `json:"type"` // for example "api_error", "overloaded_error"
	Message string `json:"message"`
}

// StreamEvent is one canonical stream event. Which fields are set depends
// on Type.
type StreamEvent struct {
	Type EventType `json:"type"`
	// Message is set on message_start: id, model and any usage known then.
	Message *Response `json:"message,omitempty"`
	// Index is the content block index for block events.
	Index int `json:"index"`
	// Block is set on block_start: its Type, and ID and Name for tool_use.
	Block *Block `json:"block,omitempty"`
	// Delta is set on block_delta.
	Delta *Delta `json:"delta,omitempty"`
	// StopReason and StopSequence are set on message_delta.
	StopReason   StopReason `json:"stop_reason,omitempty"`
	StopSequence string     `json:"stop_sequence,omitempty"`
	// Usage is set on message_delta: the final, complete usage.
	Usage *Usage `json:"usage,omitempty"`
	// Error is set on error.
	Error *StreamError `json:"error,omitempty"`
}

// StreamDecoder turns an upstream stream into canonical events. It is fed
// one SSE event at a time and returns what that event produces at once; it
// never waits for later input. Implementations are stateful and not safe for
// concurrent use.
type StreamDecoder interface {
	// Decode appends the canonical events produced by one upstream SSE
	// event (its event name, possibly empty, and its data) to dst.
	Decode(dst []StreamEvent, event string, data []byte) ([]StreamEvent, error)
	// End is called when the upstream body ends. A stream that ends before
	// its dialect's terminal event yields an error event: never a clean end.
	End(dst []StreamEvent) []StreamEvent
}

// StreamEncoder turns canonical events into SSE bytes of the caller's
// dialect, each event framed and terminated by a blank line so that it can be
// written and flushed immediately. Implementations are stateful and not safe
// for concurrent use.
type StreamEncoder interface {
	// Encode appends the SSE bytes for ev to dst (possibly none: an event
	// the dialect has no form for produces nothing).
	Encode(dst []byte, ev StreamEvent) ([]byte, error)
}
