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
	if got, err := gemini.UpstreamPath("gemini-2.5-flash", true); err != nil || got != "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
		t.Errorf("stream path %q %v", got, err)
	}
	if got, err := gemini.UpstreamPath("gemini-2.5-flash", false); err != nil || got != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("path %q %v", got, err)
	}
	if got, err := gemini.CountTokensPath("tunedModels/my-model.v2"); err != nil || got != "/v1beta/models/tunedModels/my-model.v2:countTokens" {
		t.Errorf("count path %q %v", got, err)
	}
}

// A model name reaches Gemini paths from other dialects' "model" field
// ("gemini/../../v1/tunedModels/x"): escaping keeps "/" and "?" in place
// but not "..", so a name ParsePath would refuse is refused here too —
// it would take the provider's key to another resource of the host.
func TestUpstreamPathRefusesWalks(t *testing.T) {
	for _, m := range []string{"", "..", "../../v1/tunedModels/x", "x/../../../upload/v1beta/files", "a/./b", "a//b", "a b", "x?alt=media", "x#y", "x:generateContent", "%2e%2e", "ü"} {
		if p, err := gemini.UpstreamPath(m, false); !errors.Is(err, gemini.ErrBadPath) {
			t.Errorf("UpstreamPath(%q) = %q, %v; want ErrBadPath", m, p, err)
		}
		if p, err := gemini.CountTokensPath(m); !errors.Is(err, gemini.ErrBadPath) {
			t.Errorf("CountTokensPath(%q) = %q, %v; want ErrBadPath", m, p, err)
		}
		if gemini.ValidModel(m) {
			t.Errorf("ValidModel(%q)", m)
		}
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
		up, err := gemini.UpstreamPath(model, false)
		if err != nil {
			t.Fatalf("accepted %q (model %q) but refuses its upstream path: %v", path, model, err)
		}
		if got, m2, err := gemini.ParsePath(up); err != nil || got != model || m2 != gemini.MethodGenerate {
			t.Fatalf("accepted %q (model %q, %s) but its upstream path does not parse back: %q %v", path, model, method, got, err)
		}
	})
}
