package llm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

// TestDecodeErrorsCarryNoContent feeds bodies whose bad parts hold a secret
// and checks that no decoder error repeats it: errors reach logs and 400
// bodies.
func TestDecodeErrorsCarryNoContent(t *testing.T) {
	const secret = "4111111111111111"
	tests := []struct{ name, dialect, body string }{
		{"openai number content", "openai", `{"model":"m","messages":[{"role":"user","content":4111111111111111}]}`},
		{"openai bad args", "openai", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"sk-4111111111111111"}}]}]}`},
		{"openai syntax", "openai", `{"model":"4111111111111111" "x"}`},
		{"anthropic number text", "anthropic", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":4111111111111111}]}]}`},
		{"anthropic bad role", "anthropic", `{"model":"m","max_tokens":1,"messages":[{"role":"4111111111111111","content":"x"}]}`},
		{"gemini number text", "gemini", `{"contents":[{"role":"user","parts":[{"text":4111111111111111}]}]}`},
		{"gemini bad max tokens", "gemini", `{"contents":[],"generationConfig":{"maxOutputTokens":4111111111111111.5}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dialect(t, tt.dialect).DecodeRequest([]byte(tt.body))
			if !errors.Is(err, llm.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error repeats body content: %v", err)
			}
		})
	}
	for _, d := range llmtest.Dialects {
		t.Run(d.Name+" response", func(t *testing.T) {
			_, err := d.DecodeResponse([]byte(`{"id":4111111111111111,"candidates":4111111111111111,"type":4111111111111111}`))
			if err == nil || strings.Contains(err.Error(), secret) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
