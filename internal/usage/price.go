package usage

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Price is what a model costs, in integer micro-USD per million tokens
// (so $2.50 per million is 2_500_000). Zero cache prices fall back to the
// input price. A non-zero LongContextThreshold switches the whole request
// to the Long* prices when its prompt exceeds that many tokens (Anthropic's
// long-context rule).
type Price struct {
	Input       int64 `json:"input" yaml:"input"`
	Output      int64 `json:"output" yaml:"output"`
	CachedInput int64 `json:"cached_input,omitempty" yaml:"cached_input,omitempty"`
	CacheWrite  int64 `json:"cache_write,omitempty" yaml:"cache_write,omitempty"`

	LongContextThreshold int64 `json:"long_context_threshold,omitempty" yaml:"long_context_threshold,omitempty"`
	LongInput            int64 `json:"long_input,omitempty" yaml:"long_input,omitempty"`
	LongOutput           int64 `json:"long_output,omitempty" yaml:"long_output,omitempty"`
	LongCachedInput      int64 `json:"long_cached_input,omitempty" yaml:"long_cached_input,omitempty"`
	LongCacheWrite       int64 `json:"long_cache_write,omitempty" yaml:"long_cache_write,omitempty"`
}

// ErrNegativePrice is returned by Validate for a price below zero.
var ErrNegativePrice = errors.New("usage: negative price")

// Validate rejects negative prices.
func (p Price) Validate() error {
	for _, v := range []int64{p.Input, p.Output, p.CachedInput, p.CacheWrite, p.LongContextThreshold,
		p.LongInput, p.LongOutput, p.LongCachedInput, p.LongCacheWrite} {
		if v < 0 {
			return ErrNegativePrice
		}
	}
	return nil
}

// m converts USD per million tokens to micro-USD per million tokens at
// compile time for the table below (exact for the prices listed).
func m(usd float64) int64 { return int64(usd*1e6 + 0.5) }

// defaultPrices are list prices (USD per million tokens) for current OpenAI
// and Anthropic models, as published by the vendors in 2025-2026. Cache
// writes are the 5-minute TTL rate. Operators override any entry in config.
var defaultPrices = map[string]Price{
	// OpenAI
	"gpt-5":                  {Input: m(1.25), Output: m(10), CachedInput: m(0.125)},
	"gpt-5.1":                {Input: m(1.25), Output: m(10), CachedInput: m(0.125)},
	"gpt-5-mini":             {Input: m(0.25), Output: m(2), CachedInput: m(0.025)},
	"gpt-5-nano":             {Input: m(0.05), Output: m(0.40), CachedInput: m(0.005)},
	"gpt-4.1":                {Input: m(2), Output: m(8), CachedInput: m(0.50)},
	"gpt-4.1-mini":           {Input: m(0.40), Output: m(1.60), CachedInput: m(0.10)},
	"gpt-4.1-nano":           {Input: m(0.10), Output: m(0.40), CachedInput: m(0.025)},
	"gpt-4o":                 {Input: m(2.50), Output: m(10), CachedInput: m(1.25)},
	"gpt-4o-mini":            {Input: m(0.15), Output: m(0.60), CachedInput: m(0.075)},
	"o1":                     {Input: m(15), Output: m(60), CachedInput: m(7.50)},
	"o3":                     {Input: m(2), Output: m(8), CachedInput: m(0.50)},
	"o3-mini":                {Input: m(1.10), Output: m(4.40), CachedInput: m(0.55)},
	"o4-mini":                {Input: m(1.10), Output: m(4.40), CachedInput: m(0.275)},
	"text-embedding-3-small": {Input: m(0.02)},
	"text-embedding-3-large": {Input: m(0.13)},
	"text-embedding-ada-002": {Input: m(0.10)},
	// Anthropic
	"claude-opus-4-5":   {Input: m(5), Output: m(25), CachedInput: m(0.50), CacheWrite: m(6.25)},
	"claude-opus-4-1":   {Input: m(15), Output: m(75), CachedInput: m(1.50), CacheWrite: m(18.75)},
	"claude-opus-4":     {Input: m(15), Output: m(75), CachedInput: m(1.50), CacheWrite: m(18.75)},
	"claude-sonnet-4-5": sonnetLong,
	"claude-sonnet-4":   sonnetLong,
	"claude-3-7-sonnet": {Input: m(3), Output: m(15), CachedInput: m(0.30), CacheWrite: m(3.75)},
	"claude-haiku-4-5":  {Input: m(1), Output: m(5), CachedInput: m(0.10), CacheWrite: m(1.25)},
	"claude-3-5-haiku":  {Input: m(0.80), Output: m(4), CachedInput: m(0.08), CacheWrite: m(1)},
}

// sonnetLong is Sonnet 4/4.5 pricing with the tier above 200K input tokens.
var sonnetLong = Price{Input: m(3), Output: m(15), CachedInput: m(0.30), CacheWrite: m(3.75),
	LongContextThreshold: 200_000, LongInput: m(6), LongOutput: m(22.50), LongCachedInput: m(0.60), LongCacheWrite: m(7.50)}

// Table prices models. It is immutable after NewTable and safe for
// concurrent use.
type Table struct {
	prices map[string]Price
}

// NewTable returns the default price table with overrides applied (keys are
// upstream model names such as "gpt-4o-mini"; an override replaces the
// whole entry).
func NewTable(overrides map[string]Price) (*Table, error) {
	t := &Table{prices: make(map[string]Price, len(defaultPrices)+len(overrides))}
	for k, v := range defaultPrices {
		t.prices[k] = v
	}
	for k, v := range overrides {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("usage: price for %q: %w", k, err)
		}
		t.prices[k] = v
	}
	return t, nil
}

// Lookup returns the price of an upstream model: an exact entry, else the
// longest entry that is a prefix of it at a "-" boundary (so dated snapshots
// like "claude-sonnet-4-5-20250929" price as "claude-sonnet-4-5"). A
// "vendor/" prefix is ignored.
func (t *Table) Lookup(model string) (Price, bool) {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	if p, ok := t.prices[model]; ok {
		return p, true
	}
	best, found := "", false
	for k := range t.prices {
		if len(k) > len(best) && len(model) > len(k) && model[len(k)] == '-' && strings.HasPrefix(model, k) {
			best, found = k, true
		}
	}
	return t.prices[best], found
}

// Cost prices tokens for model in micro-USD, rounded up to the next
// micro-dollar. ok is false (and the cost 0) when the model has no price.
func (t *Table) Cost(model string, tok Tokens) (micros int64, ok bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(tok), true
}

// Cost prices tokens in micro-USD, rounded up. The sum is exact (128-bit)
// and saturates at math.MaxInt64: counts are clamped to 2^40, and 2^40
// tokens at a long-context price wrapped int64 into a negative cost, which
// a budget then refused to settle — the call went free.
func (p Price) Cost(tok Tokens) int64 {
	in, out, cached, write := p.rates(tok)
	plain := tok.PromptTokens - tok.CachedTokens - tok.CacheWriteTokens
	var sum wide
	sum.addProduct(plain, in)
	sum.addProduct(tok.CachedTokens, cached)
	sum.addProduct(tok.CacheWriteTokens, write)
	sum.addProduct(tok.CompletionTokens, out)
	return sum.ceilMicros()
}

// rates are the per-million prices that apply to tok: the long-context
// tier above its threshold, and the input price where a cache price is 0.
func (p Price) rates(tok Tokens) (in, out, cached, write int64) {
	in, out, cached, write = p.Input, p.Output, p.CachedInput, p.CacheWrite
	if p.LongContextThreshold > 0 && tok.PromptTokens > p.LongContextThreshold {
		in, out, cached, write = p.LongInput, p.LongOutput, p.LongCachedInput, p.LongCacheWrite
	}
	if cached == 0 {
		cached = in
	}
	if write == 0 {
		write = in
	}
	return in, out, cached, write
}

// wide is an unsigned 128-bit sum of token × price products. Four products
// of int64 operands stay below 2^128.
type wide struct{ hi, lo uint64 }

// addProduct adds n × price; a negative or zero operand adds nothing.
func (w *wide) addProduct(n, price int64) {
	if n <= 0 || price <= 0 {
		return
	}
	hi, lo := bits.Mul64(uint64(n), uint64(price))
	var carry uint64
	w.lo, carry = bits.Add64(w.lo, lo, 0)
	w.hi, _ = bits.Add64(w.hi, hi, carry)
}

// ceilMicros divides the sum (micro-USD per million tokens × tokens) by a
// million, rounding up, saturating at math.MaxInt64.
func (w wide) ceilMicros() int64 {
	if w.hi >= 1_000_000 { // the quotient would not fit 64 bits
		return math.MaxInt64
	}
	lo, carry := bits.Add64(w.lo, 999_999, 0)
	hi := w.hi + carry
	if hi >= 1_000_000 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return int64(min(q, math.MaxInt64))
}
