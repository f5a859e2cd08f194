package router

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what an upstream can ask for; the request deadline
// bounds it further.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads how long the upstream asks to wait: retry-after-ms
// (milliseconds, possibly fractional, as OpenAI sends) wins over retry-after
// (delay-seconds or an HTTP-date, RFC 9110 §10.2.3). ok is false when neither
// header holds a valid value. Dates in the past give 0; values are capped at
// 24 hours.
func ParseRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) && !math.IsNaN(ms) {
			if ms > float64(maxRetryAfter/time.Millisecond) {
				return maxRetryAfter, true
			}
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // all digits but huge: cap, don't ignore
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	return min(max(d, 0), maxRetryAfter), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
