package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.Dial("tcp", addr) // a real connection-refused error

	tests := []struct {
		name   string
		status int
		err    error
		want   Class
	}{
		{"success", 0, nil, OK},
		{"200", 200, nil, OK},
		{"429", 429, nil, Retryable},
		{"408", 408, nil, Retryable},
		{"500", 500, nil, Retryable},
		{"503 upstream error", 0, &UpstreamError{Status: 503}, Retryable},
		{"529 overloaded", 529, nil, Retryable},
		{"400 plain", 400, &UpstreamError{Status: 400, Message: "invalid temperature"}, Fatal},
		{"401", 401, nil, Fatal},
		{"404", 404, nil, Fatal},
		{"openai context", 0, &UpstreamError{Status: 400, Message: `{"code":"context_length_exceeded"}`}, ContextWindow},
		{"anthropic context", 0, &UpstreamError{Status: 400, Message: "prompt is too long: 210000 tokens > 200000 maximum"}, ContextWindow},
		{"413 context", 0, &UpstreamError{Status: 413, Message: "Input is too long for requested model"}, ContextWindow},
		{"wrapped upstream", 0, fmt.Errorf("call: %w", &UpstreamError{Status: 502}), Retryable},
		{"deadline", 0, context.DeadlineExceeded, Retryable},
		{"client canceled", 0, fmt.Errorf("read: %w", context.Canceled), Fatal},
		{"first byte timeout", 0, fmt.Errorf("%w: %w", ErrFirstByteTimeout, context.Canceled), Retryable},
		{"idle timeout", 0, fmt.Errorf("%w: %w", ErrIdleTimeout, context.Canceled), Retryable},
		{"reset", 0, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, Retryable},
		{"refused (real)", 0, refused, Retryable},
		{"unexpected EOF", 0, io.ErrUnexpectedEOF, Retryable},
		{"other error", 0, errors.New("json: cannot unmarshal"), Fatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.status, tt.err); got != tt.want {
				t.Fatalf("Classify(%d, %v) = %s, want %s", tt.status, tt.err, got, tt.want)
			}
		})
	}
}

var retryAfterNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var retryAfterCases = []struct {
	name   string
	ms, ra string
	want   time.Duration
	ok     bool
}{
	{"none", "", "", 0, false},
	{"seconds", "", "3", 3 * time.Second, true},
	{"zero", "", "0", 0, true},
	{"spaces", "", " 7 ", 7 * time.Second, true},
	{"http date", "", "Mon, 01 Jun 2026 12:00:30 GMT", 30 * time.Second, true},
	{"past date", "", "Mon, 01 Jun 2026 11:00:00 GMT", 0, true},
	{"rfc850 date", "", "Monday, 01-Jun-26 12:01:00 GMT", time.Minute, true},
	{"ms wins", "1500", "9", 1500 * time.Millisecond, true},
	{"fractional ms", "12.5", "", 12500 * time.Microsecond, true},
	{"bad ms falls back", "soon", "2", 2 * time.Second, true},
	{"negative seconds", "", "-1", 0, false},
	{"negative ms", "-5", "", 0, false},
	{"garbage", "", "later", 0, false},
	{"huge seconds capped", "", "99999999999999999999999", 24 * time.Hour, true},
	{"huge ms capped", "1e300", "", 24 * time.Hour, true},
	{"nan ms", "NaN", "", 0, false},
	{"float seconds", "", "1.5", 0, false},
}

func TestParseRetryAfter(t *testing.T) {
	for _, tt := range retryAfterCases {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.ms != "" {
				h.Set("retry-after-ms", tt.ms)
			}
			if tt.ra != "" {
				h.Set("retry-after", tt.ra)
			}
			d, ok := ParseRetryAfter(h, retryAfterNow)
			if d != tt.want || ok != tt.ok {
				t.Fatalf("ParseRetryAfter = %v, %v; want %v, %v", d, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, tt := range retryAfterCases {
		f.Add(tt.ms, tt.ra)
	}
	f.Fuzz(func(t *testing.T, ms, ra string) {
		h := http.Header{"Retry-After-Ms": {ms}, "Retry-After": {ra}}
		d, ok := ParseRetryAfter(h, retryAfterNow)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q, %q) = %v, %v", ms, ra, d, ok)
		}
	})
}

func FuzzIsContextWindowMessage(f *testing.F) {
	for _, m := range append(contextMarkers, "invalid temperature", "") {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := IsContextWindowMessage(msg)
		if got != IsContextWindowMessage(msg+" trailing") && got {
			t.Fatalf("appending text removed the match for %q", msg)
		}
		if c := Classify(0, &UpstreamError{Status: 400, Message: msg}); (c == ContextWindow) != got {
			t.Fatalf("Classify and IsContextWindowMessage disagree on %q", msg)
		}
	})
}
