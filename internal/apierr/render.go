package apierr

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// Dialect selects the error body shape of a route.
type Dialect int

// Dialects of error bodies.
const (
	OpenAI    Dialect = iota // {"error":{"message","type","param","code"}}
	Anthropic                // {"type":"error","error":{"type","message"}}
	Gemini                   // {"error":{"code","message","status"}}
)

// Write logs err's private cause with the request id and sends its public
// face to the client in dialect d. It is safe to call once per response,
// before anything else was written.
func Write(w http.ResponseWriter, r *http.Request, d Dialect, err error, log *slog.Logger) {
	e := From(err)
	id := reqid.FromContext(r.Context())
	logError(r.Context(), log, r, e, id)
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if e.RetryAfter > 0 {
		secs := int64((e.RetryAfter + 999_999_999) / 1_000_000_000) // round up
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if d == Anthropic && id != "" {
		h.Set("Request-Id", id) // the header Anthropic's SDKs read into err.RequestID
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_, _ = w.Write(Body(d, e, id))
}

func logError(ctx context.Context, log *slog.Logger, r *http.Request, e *Error, id string) {
	if log == nil {
		return
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.Int("status", e.Status),
		slog.String("code", e.Code), slog.String("path", r.URL.Path),
	}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
	}
	log.LogAttrs(ctx, level, "request failed", attrs...)
}

// Body renders the public face of e in dialect d.
func Body(d Dialect, e *Error, requestID string) []byte {
	var v any
	switch d {
	case Anthropic:
		v = anthropicBody{Type: "error", Error: anthropicErr{Type: anthropicType(e.Status), Message: e.Message}, RequestID: requestID}
	case Gemini:
		v = geminiBody{Error: geminiErr{Code: e.Status, Message: e.Message, Status: geminiStatus(e.Status)}}
	case OAuth:
		v = oauthBody{Error: e.Code, Description: e.Message, RequestID: requestID}
	default:
		v = openAIBody{Error: openAIErr{Message: e.Message, Type: openAIType(e.Status), Param: nilIfEmpty(e.Param), Code: e.Code, RequestID: requestID}}
	}
	b, _ := json.Marshal(v) // plain structs of strings and ints cannot fail
	return append(b, '\n')
}

type openAIBody struct {
	Error openAIErr `json:"error"`
}

type openAIErr struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Param     *string `json:"param"`
	Code      string  `json:"code"`
	RequestID string  `json:"request_id,omitempty"`
}

type anthropicBody struct {
	Type      string       `json:"type"`
	Error     anthropicErr `json:"error"`
	RequestID string       `json:"request_id,omitempty"`
}

type anthropicErr struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type geminiBody struct {
	Error geminiErr `json:"error"`
}

type geminiErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func openAIType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// AnthropicType maps an HTTP status to Anthropic's error type names.
func anthropicType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func geminiStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED" // gRPC's name for an operation the service does not offer
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}
