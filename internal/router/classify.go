package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Class is what the executor does after a failed attempt.
type Class int

// Classes of attempt outcome.
const (
	// OK: the attempt succeeded.
	OK Class = iota
	// Retryable: try again or fall back (429, 5xx, 408, timeouts,
	// connection refused or reset, truncated responses).
	Retryable
	// ContextWindow: the prompt does not fit; fall back to the alias's
	// larger-context alias when one is configured.
	ContextWindow
	// Fatal: the request itself is wrong (other 4xx) or the client left;
	// trying elsewhere would not help.
	Fatal
)

// String names the class for logs and metrics.
func (c Class) String() string {
	switch c {
	case OK:
		return "ok"
	case Retryable:
		return "retryable"
	case ContextWindow:
		return "context_window"
	}
	return "fatal"
}

// UpstreamError is an HTTP error answer from a provider. Adapters return it
// so the executor can classify the answer and honour its retry-after. Message
// is the provider's error text: it may reach logs, never a client.
type UpstreamError struct {
	Status     int
	Message    string
	RetryAfter time.Duration // parsed from the response headers; 0 if none
}

// Error includes the upstream message: log it, never send it to a client.
func (e *UpstreamError) Error() string {
	return "upstream status " + http.StatusText(e.Status) + ": " + e.Message
}

// NewUpstreamError builds an UpstreamError, parsing retry-after-ms and
// retry-after from h relative to now.
func NewUpstreamError(status int, message string, h http.Header, now time.Time) *UpstreamError {
	ra, _ := ParseRetryAfter(h, now)
	return &UpstreamError{Status: status, Message: message, RetryAfter: ra}
}

// contextMarkers are fragments of providers' "prompt too long" errors.
var contextMarkers = []string{
	"context_length_exceeded",
	"context length",
	"context window",
	"prompt is too long",
	"maximum context",
	"too many tokens",
	"input is too long",
	"exceeds the maximum number of tokens",
	"reduce the length",
}

// IsContextWindowMessage reports whether a provider error message says the
// prompt does not fit the model's context window.
func IsContextWindowMessage(msg string) bool {
	msg = strings.ToLower(msg)
	for _, m := range contextMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// Classify decides what a failed attempt means. status is the upstream HTTP
// status (0 when no response arrived); err is the attempt's error, whose
// *UpstreamError message (if any) is checked for context-window markers.
func Classify(status int, err error) Class {
	var ue *UpstreamError
	if errors.As(err, &ue) && status == 0 {
		status = ue.Status
	}
	if status == 0 && err == nil {
		return OK
	}
	if status != 0 {
		return classifyStatus(status, ue)
	}
	return classifyTransport(err)
}

func classifyStatus(status int, ue *UpstreamError) Class {
	switch {
	case status < 400:
		return OK
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return Retryable
	case (status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge) &&
		ue != nil && IsContextWindowMessage(ue.Message):
		return ContextWindow
	}
	return Fatal
}

func classifyTransport(err error) Class {
	switch {
	case errors.Is(err, ErrFirstByteTimeout), errors.Is(err, ErrIdleTimeout):
		return Retryable // checked first: these also wrap context.Canceled
	case errors.Is(err, context.Canceled):
		return Fatal // the client went away: nobody is waiting for a retry
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Retryable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Retryable // dial, DNS and other transport failures
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return Retryable
	}
	return Fatal
}
