// Package usage owns what one LLM call consumed: token counts taken from the
// upstream's own usage report (or estimated locally when a stream ends early
// or omits it), the price table and the cost in integer micro-USD. Storage of
// usage rows belongs to the store; this package only describes and prices.
package usage

import (
	"context"
	"time"
)

// Tokens is what one call consumed. PromptTokens counts every input token,
// including those read from or written to the prompt cache; CachedTokens and
// CacheWriteTokens are the parts of PromptTokens billed at cache prices.
// ReasoningTokens is the part of CompletionTokens spent on hidden reasoning.
type Tokens struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CacheWriteTokens int64
	// CacheWrite1hTokens is the part of CacheWriteTokens written with a
	// one-hour TTL, which Anthropic bills at 2× input (the 5-minute rate
	// is 1.25×); the client chooses the TTL per cache_control block.
	CacheWrite1hTokens int64
	ReasoningTokens    int64
}

// Record is the one usage row written per LLM request. It never holds a
// request or response body, nor any secret.
type Record struct {
	Time       time.Time
	RequestID  string
	KeyID      string
	Tenant     string
	Model      string // as the client named it (alias, provider/model or bare)
	Provider   string // provider name that served the call
	Deployment string // upstream model name sent to the provider
	Endpoint   string // the API method called: one of Endpoints()
	Tokens
	// Estimated is true when some counts were computed locally because the
	// upstream's report was missing (for example a stream cut short).
	Estimated  bool
	CostMicros int64 // cost in micro-USD (1e-6 USD)
	Latency    time.Duration
	TTFB       time.Duration // time to the first byte sent to the client
	Status     int
	Stream     bool
}

// The endpoint names a Record gives the API method it was for: short,
// stable (stored in every usage row and filtered on), one per method the
// gateway serves (docs/providers.md#usage-and-cost lists them).
const (
	EndpointChatCompletions   = "chat.completions"             // POST /v1/chat/completions
	EndpointEmbeddings        = "embeddings"                   // POST /v1/embeddings
	EndpointMessages          = "messages"                     // POST /v1/messages
	EndpointMessagesCount     = "messages.count_tokens"        // POST /v1/messages/count_tokens
	EndpointGeminiGenerate    = "gemini.generateContent"       // POST /v1beta/models/{model}:generateContent
	EndpointGeminiStream      = "gemini.streamGenerateContent" // POST /v1beta/models/{model}:streamGenerateContent
	EndpointGeminiCountTokens = "gemini.countTokens"           // POST /v1beta/models/{model}:countTokens
)

// Endpoints returns every endpoint name, in the order of the constants.
func Endpoints() []string {
	return []string{EndpointChatCompletions, EndpointEmbeddings, EndpointMessages, EndpointMessagesCount,
		EndpointGeminiGenerate, EndpointGeminiStream, EndpointGeminiCountTokens}
}

// Sink receives usage records. Record must not block the request path: an
// implementation queues and writes in the background. Implementations must
// be safe for concurrent use.
type Sink interface {
	Record(ctx context.Context, r Record)
}

// Backlogger is a Sink that can say, before Record, that Record would
// wait (its backlog is full).
type Backlogger interface {
	Backlogged() bool
}

// Discard is a Sink that drops every record.
type Discard struct{}

// Record drops r.
func (Discard) Record(context.Context, Record) {}

// EstimateTokens approximates the token count of n bytes of text or JSON:
// one token per four bytes, rounded up. This is the usual rule of thumb for
// English and code with BPE tokenizers (cl100k, o200k, Claude); it is cheap,
// allocation-free and deliberately simple because it is only used when the
// upstream did not report usage.
func EstimateTokens(n int) int64 {
	if n <= 0 {
		return 0
	}
	return int64((n + 3) / 4)
}
