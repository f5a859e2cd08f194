package limit

import (
	"math"
	"math/bits"
)

// Price is what one model costs, in integer micro-USD per million tokens.
// The gateway's price table (per model, per deployment override) maps to
// this struct; a zero field means that kind of token is free. Long-context
// prices apply to the whole request when its prompt exceeds
// LongContextThreshold tokens (Anthropic and Gemini price that way).
type Price struct {
	InputPerMTok      int64
	OutputPerMTok     int64
	CacheWritePerMTok int64
	CacheReadPerMTok  int64

	// LongContextThreshold is the prompt size above which the Long* prices
	// apply; zero means the model has no long-context tier.
	LongContextThreshold  int64
	LongInputPerMTok      int64
	LongOutputPerMTok     int64
	LongCacheWritePerMTok int64
}

// Usage counts the tokens of one call by kind. InputTokens excludes cached
// and cache-write tokens.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheWriteTokens int64
	CacheReadTokens  int64
}

// WorstCaseMicros is the most a call can cost: every prompt token priced at
// the highest input-side rate that could apply (plain input or cache write),
// maxOutput tokens at the output rate, and the long-context tier when the
// prompt estimate exceeds its threshold. promptEstimate must be an upper
// bound of the prompt's tokens; maxOutput is the request's max tokens or,
// when it sets none, the model's maximum. Results round up and saturate at
// MaxInt64, so a reservation never under-holds.
func WorstCaseMicros(p Price, promptEstimate, maxOutput int64) int64 {
	in := max(p.InputPerMTok, p.CacheWritePerMTok, p.CacheReadPerMTok)
	out := p.OutputPerMTok
	if p.LongContextThreshold > 0 && promptEstimate > p.LongContextThreshold {
		in = max(in, p.LongInputPerMTok, p.LongCacheWritePerMTok)
		out = max(out, p.LongOutputPerMTok)
	}
	return addSat(tokensCost(promptEstimate, in), tokensCost(maxOutput, out))
}

// CostMicros is what a call with usage u cost under p, rounded up per kind.
// For any usage whose prompt and output fit in the estimate given to
// WorstCaseMicros, CostMicros ≤ WorstCaseMicros.
func CostMicros(p Price, u Usage) int64 {
	prompt := u.InputTokens + u.CacheWriteTokens + u.CacheReadTokens
	in, out, cw, cr := p.InputPerMTok, p.OutputPerMTok, p.CacheWritePerMTok, p.CacheReadPerMTok
	if p.LongContextThreshold > 0 && prompt > p.LongContextThreshold {
		in = max(in, p.LongInputPerMTok)
		out = max(out, p.LongOutputPerMTok)
		cw = max(cw, p.LongCacheWritePerMTok)
	}
	total := tokensCost(u.InputTokens, in)
	total = addSat(total, tokensCost(u.OutputTokens, out))
	total = addSat(total, tokensCost(u.CacheWriteTokens, cw))
	return addSat(total, tokensCost(u.CacheReadTokens, cr))
}

// tokensCost is ceil(tokens*perMTok/1e6) without overflow.
func tokensCost(tokens, perMTok int64) int64 {
	if tokens <= 0 || perMTok <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(perMTok))
	if hi >= 1_000_000 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1_000_000)
	if r > 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
