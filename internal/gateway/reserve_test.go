package gateway

import (
	"testing"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// reserveCase is a price table entry and the tokens of one call the
// upstream reports.
type reserveCase struct {
	name  string
	price usage.Price
	tok   usage.Tokens
}

var reserveCases = []reserveCase{
	{"plain input", usage.Price{Input: 3_000_000, Output: 15_000_000},
		usage.Tokens{PromptTokens: 10_000, CompletionTokens: 500}},
	// The client picks a cache entry's TTL per cache_control block, so a
	// prompt written entirely with the one-hour TTL is billed at 2× input
	// (Anthropic's default) — above the 5-minute write price of 1.25×.
	{"one-hour writes at the default price", usage.Price{Input: 3_000_000, Output: 15_000_000, CachedInput: 300_000, CacheWrite: 3_750_000},
		usage.Tokens{PromptTokens: 100_000, CacheWriteTokens: 100_000, CacheWrite1hTokens: 100_000, CompletionTokens: 1}},
	{"one-hour writes at a set price", usage.Price{Input: 1_000_000, Output: 5_000_000, CacheWrite: 1_250_000, CacheWrite1h: 9_000_000},
		usage.Tokens{PromptTokens: 50_000, CacheWriteTokens: 50_000, CacheWrite1hTokens: 50_000}},
	{"one-hour writes in the long-context tier", usage.Price{Input: 3_000_000, Output: 15_000_000, LongContextThreshold: 200_000,
		LongInput: 6_000_000, LongOutput: 22_500_000, LongCacheWrite: 7_500_000},
		usage.Tokens{PromptTokens: 300_000, CacheWriteTokens: 300_000, CacheWrite1hTokens: 300_000, CompletionTokens: 10}},
	{"long tier without its own input price", usage.Price{Input: 3_000_000, Output: 15_000_000, LongContextThreshold: 1000},
		usage.Tokens{PromptTokens: 5000, CacheWriteTokens: 5000, CacheWrite1hTokens: 2000, CompletionTokens: 10}},
}

// TestReservationCoversCost holds the budget's reservation to what the
// call is then settled at: a reservation below the cost lets parallel calls
// overspend a budget (invariant 8).
func TestReservationCoversCost(t *testing.T) {
	for _, tt := range reserveCases {
		t.Run(tt.name, func(t *testing.T) {
			cost, worst := tt.price.Cost(tt.tok), limit.WorstCaseMicros(limitPrice(tt.price), tt.tok.PromptTokens, tt.tok.CompletionTokens)
			if cost > worst {
				t.Fatalf("the call costs %d µUSD but only %d were reserved", cost, worst)
			}
		})
	}
}

func FuzzReservationCoversCost(f *testing.F) {
	for _, tt := range reserveCases {
		p, k := tt.price, tt.tok
		f.Add(p.Input, p.Output, p.CachedInput, p.CacheWrite, p.CacheWrite1h, p.LongContextThreshold, p.LongInput, p.LongOutput,
			p.LongCachedInput, p.LongCacheWrite, p.LongCacheWrite1h, k.PromptTokens, k.CompletionTokens, k.CachedTokens, k.CacheWriteTokens, k.CacheWrite1hTokens)
	}
	f.Fuzz(func(t *testing.T, in, out, cached, write, write1h, threshold, lin, lout, lcached, lwrite, lwrite1h, prompt, completion, read, written, written1h int64) {
		p := usage.Price{Input: in, Output: out, CachedInput: cached, CacheWrite: write, CacheWrite1h: write1h,
			LongContextThreshold: threshold, LongInput: lin, LongOutput: lout, LongCachedInput: lcached, LongCacheWrite: lwrite, LongCacheWrite1h: lwrite1h}
		if p.Validate() != nil {
			return // the config refuses it
		}
		// Token counts as the usage extraction leaves them: non-negative,
		// bounded, the cache parts inside the prompt.
		c := func(v int64) int64 { return min(max(v, 0), 1<<40) }
		tok := usage.Tokens{PromptTokens: c(prompt), CompletionTokens: c(completion)}
		tok.CacheWriteTokens = min(c(written), tok.PromptTokens)
		tok.CachedTokens = min(c(read), tok.PromptTokens-tok.CacheWriteTokens)
		tok.CacheWrite1hTokens = min(c(written1h), tok.CacheWriteTokens)
		cost, worst := p.Cost(tok), limit.WorstCaseMicros(limitPrice(p), tok.PromptTokens, tok.CompletionTokens)
		if cost > worst {
			t.Fatalf("price %+v, tokens %+v: the call costs %d µUSD but only %d were reserved", p, tok, cost, worst)
		}
	})
}
