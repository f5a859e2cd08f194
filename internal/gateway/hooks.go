package gateway

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Hooks are optional extension points. Every hook that errors denies the
// request (fail closed). Hooks must be safe for concurrent use.
type Hooks struct {
	// Request inspects (and may rewrite or block) request bodies.
	Request RequestHook
	// Response inspects non-streamed bodies and streamed text.
	Response ResponseHook
	// Calls run around the upstream call in order; AfterCall runs in
	// reverse order exactly once for every BeforeCall that succeeded.
	Calls []CallHook
}

// RequestHook sees a request body before it is forwarded (guardrails).
type RequestHook interface {
	// InspectRequest returns the body to forward (body itself when
	// unchanged) or an error that blocks the request; an *apierr.Error
	// sets the client-visible face.
	InspectRequest(ctx context.Context, d apierr.Dialect, body []byte) ([]byte, error)
}

// ResponseHook sees responses before they reach the client (guardrails).
type ResponseHook interface {
	// InspectResponse returns the non-streamed body to send, or an error
	// that replaces it with an error response.
	InspectResponse(ctx context.Context, d apierr.Dialect, body []byte) ([]byte, error)
	// Stream returns a filter for one streamed response's text, or nil to
	// pass it through.
	Stream(ctx context.Context, d apierr.Dialect) StreamFilter
}

// StreamFilter rewrites a stream's text deltas in order. It is used by one
// stream only.
type StreamFilter interface {
	// Text returns what to send in place of delta (it may hold text back).
	// An error ends the stream with an error event.
	Text(delta string) (string, error)
	// Flush returns the text still held back when a text block ends.
	Flush() (string, error)
}

// Call describes one upstream call to CallHooks (limits, budgets, routing).
type Call struct {
	Identity *identity.Identity
	Dialect  apierr.Dialect
	Model    string // as the client named it
	Provider string // resolved provider name
	Upstream string // upstream model name
	Stream   bool
	// PromptTokens is the local estimate of the prompt; MaxTokens the
	// requested output cap (0 when the client sent none).
	PromptTokens int64
	MaxTokens    int64

	// Set by the gateway for its own limits step (see limiter).
	routed    bool             // Model is a routing alias
	embedding bool             // no output tokens
	count     bool             // a token count: its request step is Gate.AdmitCount, and it has no other
	hdr       http.Header      // response headers for x-ratelimit-*, nil when not settable
	adm       *limit.Admission // the caller's admitted limits, settled after the call
	admitted  bool             // the request step (concurrency, RPM) ran: adm holds it, if any
	subjects  []limit.Subject  // the caller's limit subjects, for the steps after the request step
	// subs backs the caller's limit subjects (a local array would escape
	// through the LimitSource interface: one allocation per call).
	subs [2]limit.Subject
}

// CallHook runs around an upstream call.
type CallHook interface {
	// BeforeCall may deny the call; return an *apierr.Error (e.g. 429) to
	// choose the client-visible face.
	BeforeCall(ctx context.Context, c *Call) error
	// AfterCall receives the final usage record (status, tokens, cost).
	AfterCall(ctx context.Context, c *Call, rec usage.Record)
}

// before runs the call hooks in order and returns how many succeeded;
// after must be called with that count.
func (h Hooks) before(ctx context.Context, c *Call) (int, error) {
	for i, hk := range h.Calls {
		if err := hk.BeforeCall(ctx, c); err != nil {
			return i, err
		}
	}
	return len(h.Calls), nil
}

func (h Hooks) after(ctx context.Context, n int, c *Call, rec usage.Record) {
	for i := n - 1; i >= 0; i-- {
		h.Calls[i].AfterCall(ctx, c, rec)
	}
}
