package llm_test

import (
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

// TestStreamUsageAcrossDialects follows usage from an upstream stream to the
// caller's stream and reads it back as the caller's SDK would: totals stay
// exact, cached and reasoning tokens survive wherever the caller's dialect
// has a field for them.
func TestStreamUsageAcrossDialects(t *testing.T) {
	tests := []struct {
		from, to string
		want     llm.Usage
	}{
		{"openai", "openai", llm.Usage{InputTokens: 120, OutputTokens: 30, CacheReadTokens: 64, ReasoningTokens: 8}},
		{"openai", "anthropic", llm.Usage{InputTokens: 120, OutputTokens: 30, CacheReadTokens: 64}},
		{"openai", "gemini", llm.Usage{InputTokens: 120, OutputTokens: 30, CacheReadTokens: 64, ReasoningTokens: 8}},
		{"anthropic", "openai", llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100}},
		{"anthropic", "anthropic", llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100, CacheCreationTokens: 20}},
		{"anthropic", "gemini", llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100}},
		{"gemini", "openai", llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30, ReasoningTokens: 20}},
		{"gemini", "anthropic", llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30}},
		{"gemini", "gemini", llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30, ReasoningTokens: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.from+"/to_"+tt.to, func(t *testing.T) {
			to := dialect(t, tt.to)
			steps, _ := translate(t, dialect(t, tt.from), to, read(t, tt.from+".stream.sse"))
			dec := to.NewDecoder()
			var got *llm.Usage
			for _, s := range steps {
				for _, f := range llmtest.SplitSSE(s) {
					evs, err := dec.Decode(nil, f.Event, f.Data)
					if err != nil {
						t.Fatalf("caller stream does not decode: %v", err)
					}
					for _, ev := range evs {
						if ev.Type == llm.EventMessageDelta && ev.Usage != nil {
							got = ev.Usage
						}
					}
				}
			}
			if got == nil || *got != tt.want {
				t.Errorf("caller sees usage %+v, want %+v", got, tt.want)
			}
		})
	}
}
