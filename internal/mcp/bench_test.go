package mcp

import (
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCallTool measures one authenticated, limited, audited tools/call
// round trip through the official client over loopback HTTP.
func BenchmarkCallTool(b *testing.B) {
	for _, v := range []string{Version20251125, Version20260728} {
		b.Run(v, func(b *testing.B) {
			lim, err := NewMemoryLimiter(1<<30, 1<<62)
			if err != nil {
				b.Fatal(err)
			}
			fx := newFixture(b, fixtureOpts{limiter: lim})
			cs := fx.mustConnect(secretAll, v)
			params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}
			b.ResetTimer()
			for b.Loop() {
				if res, err := cs.CallTool(b.Context(), params); err != nil || res.IsError {
					b.Fatalf("call: %v", err)
				}
			}
		})
	}
}
