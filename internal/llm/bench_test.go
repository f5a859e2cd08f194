package llm_test

import (
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

// BenchmarkRequestTranslation measures decoding the Claude Code fixture
// (20 tools, thinking, cache_control) and encoding it for each upstream.
func BenchmarkRequestTranslation(b *testing.B) {
	raw := read(b, "claude_code.request.json")
	from := llmtest.Dialects[1]
	for _, to := range llmtest.Dialects {
		b.Run("anthropic_to_"+to.Name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := from.DecodeRequest(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := to.EncodeRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamTranslation measures the per-event cost of translating an
// upstream stream into another dialect.
func BenchmarkStreamTranslation(b *testing.B) {
	for _, from := range llmtest.Dialects {
		frames := llmtest.SplitSSE(read(b, from.Name+".stream.sse"))
		for _, to := range llmtest.Dialects {
			b.Run(from.Name+"_to_"+to.Name, func(b *testing.B) {
				b.ReportAllocs()
				var evs []llm.StreamEvent
				var out []byte
				for b.Loop() {
					dec, enc := from.NewDecoder(), to.NewEncoder(true)
					for _, f := range frames {
						evs, _ = dec.Decode(evs[:0], f.Event, f.Data)
						for _, ev := range evs {
							out, _ = enc.Encode(out[:0], ev)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
			})
		}
	}
}
