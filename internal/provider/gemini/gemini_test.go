package gemini

import (
	"net/http"
	"testing"
)

func TestAddressing(t *testing.T) {
	tests := []struct {
		name, base, model string
		stream            bool
		wantURL, wantQ    string
	}{
		{"generate", "https://generativelanguage.googleapis.com", "gemini-2.5-flash", false,
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", ""},
		{"stream with v1beta base", "http://127.0.0.1:9/v1beta/", "gemini-2.5-pro", true,
			"http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:streamGenerateContent", "alt=sse"},
		{"model segments are escaped", "http://h", "a b/c?d", false, "http://h/v1beta/models/a%20b/c%3Fd:generateContent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, q := Path(tt.model, tt.stream)
			if got := URL(tt.base, p); got != tt.wantURL || q != tt.wantQ {
				t.Errorf("URL = %s ? %s, want %s ? %s", got, q, tt.wantURL, tt.wantQ)
			}
		})
	}
}

func TestCountTokensPath(t *testing.T) {
	if got := URL("http://h/v1beta", CountTokensPath("gemini-2.5-flash")); got != "http://h/v1beta/models/gemini-2.5-flash:countTokens" {
		t.Errorf("countTokens URL %s", got)
	}
}

func TestAuthAndErrors(t *testing.T) {
	h := http.Header{}
	SetAuth(h, "k")
	if h.Get("X-Goog-Api-Key") != "k" || h.Get("Authorization") != "" {
		t.Errorf("headers %v", h)
	}
	for body, want := range map[string]string{
		`{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`:      "bad",
		`[{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}]`: "slow",
		`not json`: "",
	} {
		if got := ErrorMessage([]byte(body)); got != want {
			t.Errorf("ErrorMessage(%s) = %q, want %q", body, got, want)
		}
	}
}
