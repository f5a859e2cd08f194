// Package apierr is Bulwark's one error type with two faces: a stable code
// and a public message for the client, and a private cause for the server
// log. Write renders an error in the shape of the route's API dialect
// (OpenAI, Anthropic or Gemini) so the official SDKs raise their own typed
// errors. Nothing but the public face ever reaches a client.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is an error with a public face (Status, Code, Message, Param) and a
// private Cause. It is immutable after construction and safe to share.
type Error struct {
	// Status is the HTTP status sent to the client.
	Status int
	// Code is a stable, machine-readable code ("invalid_api_key").
	Code string
	// Message is safe to show to the client: no paths, secrets or upstream bodies.
	Message string
	// Param names the offending request parameter, if any.
	Param string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Header holds extra response headers (for example WWW-Authenticate).
	Header http.Header
	// Cause is the private cause, for the server log only.
	Cause error
}

// Error returns the code, the public message and the cause, for logs.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e carrying cause.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// WithHeader returns a copy of e that also sends header k: v.
func (e *Error) WithHeader(k, v string) *Error {
	c := *e
	c.Header = e.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(k, v)
	return &c
}

// New returns an error with the given public face.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// From returns err as an *Error: itself if it is (or wraps) one, otherwise
// an internal error whose public face says nothing about the cause.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return TooLarge(tooBig.Limit).WithCause(err)
	}
	return Internal(err)
}

// BadRequest is a 400 for a malformed or invalid request.
func BadRequest(code, message string) *Error {
	return New(http.StatusBadRequest, code, message)
}

// Unauthorized is a 401: missing, malformed, unknown, revoked or expired
// credentials all look the same to the client.
func Unauthorized(message string) *Error {
	return New(http.StatusUnauthorized, "invalid_api_key", message)
}

// Forbidden is a 403: the caller is known but may not do this.
func Forbidden(code, message string) *Error {
	return New(http.StatusForbidden, code, message)
}

// NotFound is a 404.
func NotFound(code, message string) *Error {
	return New(http.StatusNotFound, code, message)
}

// TooLarge is a 413 for a body over the configured cap.
func TooLarge(limit int64) *Error {
	return New(http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("request body exceeds the limit of %d bytes", limit))
}

// RateLimited is a 429 asking the client to retry after d.
func RateLimited(code, message string, d time.Duration) *Error {
	e := New(http.StatusTooManyRequests, code, message)
	e.RetryAfter = d
	return e
}

// Internal is a 500 whose public message reveals nothing of cause.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error",
		Message: "internal error; quote the request id to the operator", Cause: cause}
}

// Unavailable is a 503 (for example no healthy upstream), retryable after d.
func Unavailable(code, message string, d time.Duration) *Error {
	e := New(http.StatusServiceUnavailable, code, message)
	e.RetryAfter = d
	return e
}
