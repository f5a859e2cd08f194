package limit

import (
	"net/http"
	"strconv"
	"time"
)

// SetHeaders writes OpenAI-style rate-limit headers for the request and token
// decisions (x-ratelimit-limit-requests, x-ratelimit-remaining-requests,
// x-ratelimit-reset-requests and the -tokens variants). A zero Decision (no
// limit configured) writes nothing for its kind. When either decision refused
// the request it also sets Retry-After in whole seconds, rounded up, so
// clients never retry too early.
func SetHeaders(h http.Header, requests, tokens Decision) {
	setKind(h, &requestHeaders, requests)
	setKind(h, &tokenHeaders, tokens)
	var wait time.Duration
	for _, d := range [2]Decision{requests, tokens} {
		if d.Limit > 0 && !d.Allowed && d.RetryAfter > wait {
			wait = d.RetryAfter
		}
	}
	if wait > 0 {
		secs := int64((wait + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
}

// kindHeaders are the canonical names of one kind's three headers, built
// once: SetHeaders runs on every limited request, and assigning canonical
// keys directly skips a concatenation and a canonicalisation per header.
type kindHeaders struct{ limit, remaining, reset string }

var (
	requestHeaders = kindHeaders{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"}
	tokenHeaders   = kindHeaders{"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"}
)

func setKind(h http.Header, k *kindHeaders, d Decision) {
	if d.Limit <= 0 {
		return
	}
	h[k.limit] = []string{strconv.FormatInt(d.Limit, 10)}
	h[k.remaining] = []string{strconv.FormatInt(d.Remaining, 10)}
	h[k.reset] = []string{FormatReset(d.Reset)}
}

// FormatReset renders a reset interval the way OpenAI does ("0s", "20ms",
// "1.5s", "6m0s"), rounded up to the millisecond.
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	return d.String()
}
