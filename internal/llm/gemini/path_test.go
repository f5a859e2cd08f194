package gemini_test

import (
	"errors"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
)

var pathCases = []struct {
	name, path, model, method string
	ok                        bool
}{
	{"generate", "/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash", gemini.MethodGenerate, true},
	{"stream", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini-2.5-pro", gemini.MethodStreamGenerate, true},
	{"count", "/v1beta/models/g:countTokens", "g", gemini.MethodCountTokens, true},
	{"provider addressing", "/v1beta/models/openai/gpt-4o-mini:generateContent", "openai/gpt-4o-mini", gemini.MethodGenerate, true},
	{"unknown method", "/v1beta/models/g:deleteEverything", "", "", false},
	{"no method", "/v1beta/models/g", "", "", false},
	{"empty model", "/v1beta/models/:generateContent", "", "", false},
	{"dot segment", "/v1beta/models/../admin:generateContent", "", "", false},
	{"empty segment", "/v1beta/models/a//b:generateContent", "", "", false},
	{"bad char", "/v1beta/models/a%2f:generateContent", "", "", false},
	{"other prefix", "/v1/models/g:generateContent", "", "", false},
}

func TestParsePath(t *testing.T) {
	for _, tt := range pathCases {
		t.Run(tt.name, func(t *testing.T) {
			model, method, err := gemini.ParsePath(tt.path)
			if tt.ok != (err == nil) || model != tt.model || method != tt.method {
				t.Errorf("ParsePath(%q) = %q, %q, %v", tt.path, model, method, err)
			}
			if err != nil && !errors.Is(err, gemini.ErrBadPath) {
				t.Errorf("err %v does not wrap ErrBadPath", err)
			}
		})
	}
}

func TestUpstreamPath(t *testing.T) {
	if got := gemini.UpstreamPath("gemini-2.5-flash", true); got != "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
		t.Errorf("stream path %q", got)
	}
	if got := gemini.UpstreamPath("gemini-2.5-flash", false); got != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("path %q", got)
	}
	if got := gemini.CountTokensPath("tuned/a b"); got != "/v1beta/models/tuned/a%20b:countTokens" {
		t.Errorf("count path %q", got)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		model, method, err := gemini.ParsePath(path)
		if err != nil {
			return
		}
		// Whatever is accepted must survive the trip to the upstream path.
		if got, m2, err := gemini.ParsePath(gemini.UpstreamPath(model, false)); err != nil || got != model || m2 != gemini.MethodGenerate {
			t.Fatalf("accepted %q (model %q, %s) but its upstream path does not parse back: %q %v", path, model, method, got, err)
		}
	})
}
