package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/provider/anthropic"
	"github.com/bulwarkhq/bulwark/internal/provider/openai"
)

// maxRetryAfter caps the wait the gateway passes on: clients should retry
// soon (or elsewhere), not park for an upstream's long penalty.
const maxRetryAfter = 30 * time.Second

// upstreamError maps an upstream error response to the gateway's public
// face. The upstream body is never echoed: only for request-validation
// statuses is its message passed on, scrubbed of anything secret-shaped,
// so the client can fix its request. The second result is the scrubbed
// upstream message for the server log.
func upstreamError(fam bool, status int, h http.Header, body []byte, cred string) (*apierr.Error, string) {
	msg := openai.ErrorMessage(body)
	if fam {
		msg = anthropic.ErrorMessage(body)
	}
	msg = scrub(msg, cred)
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		pub := "the upstream provider rejected the request"
		if msg != "" {
			pub += ": " + msg
		}
		return apierr.New(status, "upstream_invalid_request", pub), msg
	case http.StatusUnauthorized, http.StatusForbidden:
		e := apierr.New(http.StatusBadGateway, "upstream_auth_failed",
			"the upstream provider rejected the gateway's credential; contact the operator")
		e.Header = noRetry() // the SDKs retry a 502; this one would fail the same way
		return e, msg
	case http.StatusTooManyRequests:
		return apierr.RateLimited("upstream_rate_limited", "the upstream provider is rate limiting; retry shortly", retryAfter(h)), msg
	case http.StatusServiceUnavailable, 529:
		return apierr.Unavailable("upstream_overloaded", "the upstream provider is overloaded; retry shortly", retryAfter(h)), msg
	}
	return apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider failed to answer"), msg
}

// retryAfter reads Retry-After (seconds) and caps it; default one second.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseInt(h.Get("Retry-After-Ms"), 10, 64); err == nil && ms > 0 {
		return min(time.Duration(ms)*time.Millisecond, maxRetryAfter)
	}
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	return time.Second
}

// scrub bounds an upstream message and replaces every secret-shaped word
// (key prefixes, long random-looking tokens) with [redacted]: vendors echo
// fragments of keys in some messages. Words are classified after invalid
// UTF-8 is removed and before the result is cut to length, so neither step
// can turn a hidden secret back into a visible one.
//
// cred, the credential the gateway sent this upstream, is cut out first,
// whatever it looks like: a self-hosted server's key may be plain words
// ("correct-horse-battery-staple") that no shape test would catch.
func scrub(msg, cred string) string {
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	msg = cut(strings.ToValidUTF8(msg, ""), cred)
	fields := strings.FieldsFunc(msg, unicode.IsSpace)
	for i, f := range fields {
		if secretShaped(f) {
			fields[i] = "[redacted]"
		}
	}
	// Again after joining: spaces normalised could spell a credential
	// that holds whitespace.
	out := cut(strings.Join(fields, " "), cred)
	if len(out) > 300 {
		out = strings.TrimSpace(strings.ToValidUTF8(out[:300], ""))
	}
	return out
}

// cut replaces every occurrence of cred in msg (creds under four bytes
// are no secret worth garbling a message for).
func cut(msg, cred string) string {
	if len(cred) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, cred, "[redacted]")
}

func secretShaped(w string) bool {
	w = strings.Trim(w, `.,;:'"()[]{}`)
	lw := strings.ToLower(w)
	for _, p := range []string{"sk-", "sk_", "bw_", "bwk_", "key-", "xai-", "gsk_", "ghp_", "akia"} {
		if strings.HasPrefix(lw, p) {
			return true
		}
	}
	if len(w) < 20 {
		return false
	}
	var letters, digits int
	for _, r := range w {
		switch {
		case unicode.IsDigit(r):
			digits++
		case unicode.IsLetter(r):
			letters++
		}
	}
	return letters > 0 && digits > 0
}

// noRetry tells the official SDKs (which honour x-should-retry) not to
// retry an error that would fail the same way again.
func noRetry() http.Header { return http.Header{headerShouldRetry: {"false"}} }

const headerShouldRetry = "X-Should-Retry"
