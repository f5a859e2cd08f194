package llm

// Target describes the upstream a request is encoded for. Each codec reads
// the fields that concern its dialect and ignores the rest.
type Target struct {
	// Model replaces the request's model when set (the upstream's own name).
	// Gemini carries the model in the URL and ignores it.
	Model string
	// Version is the Anthropic API version the upstream is called with
	// ("2023-06-01", "2026-10-21"); it decides which sampling fields go.
	Version string
	// DefaultMaxTokens fills Anthropic's required max_tokens when the
	// request has none (4096 when zero).
	DefaultMaxTokens int
	// LegacyMaxTokens makes the OpenAI codec write max_tokens instead of
	// max_completion_tokens, for older OpenAI-compatible servers.
	LegacyMaxTokens bool
}

// Codec is one dialect's full set of translations. The implementations
// (openai.Codec, anthropic.Codec, gemini.Codec) are stateless values, safe
// for concurrent use; the stream decoders and encoders they make are not.
type Codec interface {
	// Name is the dialect: "openai", "anthropic" or "gemini".
	Name() string
	DecodeRequest(body []byte) (*Request, error)
	EncodeRequest(req *Request, t Target) ([]byte, Dropped, error)
	DecodeResponse(body []byte) (*Response, error)
	EncodeResponse(resp *Response) ([]byte, Dropped, error)
	// NewStreamDecoder reads an upstream stream of this dialect.
	NewStreamDecoder() StreamDecoder
	// NewStreamEncoder writes a caller stream of this dialect for req (the
	// caller's decoded request: it says, for example, whether OpenAI
	// callers asked for usage).
	NewStreamEncoder(req *Request) StreamEncoder
}
