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
		{"tuned model path", "http://h", "tunedModels/my-model-1", false, "http://h/v1beta/models/tunedModels/my-model-1:generateContent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, q, err := Path(tt.model, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			if got := URL(tt.base, p); got != tt.wantURL || q != tt.wantQ {
				t.Errorf("URL = %s ? %s, want %s ? %s", got, q, tt.wantURL, tt.wantQ)
			}
		})
	}
}

func TestCountTokensPath(t *testing.T) {
	p, err := CountTokensPath("gemini-2.5-flash")
	if got := URL("http://h/v1beta", p); err != nil || got != "http://h/v1beta/models/gemini-2.5-flash:countTokens" {
		t.Errorf("countTokens URL %s %v", got, err)
	}
}

// A model whose segments would walk the URL (or need escaping to stay in
// one segment) is refused: Serves says no, and Path errs.
func TestUnsafeModelRefused(t *testing.T) {
	for _, m := range []string{"../../v1/tunedModels/x", "a b/c?d", "a/../b", ""} {
		if _, _, err := Path(m, false); err == nil {
			t.Errorf("Path(%q) accepted", m)
		}
		if _, err := CountTokensPath(m); err == nil {
			t.Errorf("CountTokensPath(%q) accepted", m)
		}
		if ValidModel(m) {
			t.Errorf("ValidModel(%q)", m)
		}
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
