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
	// CacheWrite1h prices cache writes with a one-hour TTL; 0 is twice the
	// input price (Anthropic's rule).
	CacheWrite1h int64 `json:"cache_write_1h,omitempty" yaml:"cache_write_1h,omitempty"`

	LongContextThreshold int64 `json:"long_context_threshold,omitempty" yaml:"long_context_threshold,omitempty"`
	LongInput            int64 `json:"long_input,omitempty" yaml:"long_input,omitempty"`
	LongOutput           int64 `json:"long_output,omitempty" yaml:"long_output,omitempty"`
	LongCachedInput      int64 `json:"long_cached_input,omitempty" yaml:"long_cached_input,omitempty"`
	LongCacheWrite       int64 `json:"long_cache_write,omitempty" yaml:"long_cache_write,omitempty"`
	LongCacheWrite1h     int64 `json:"long_cache_write_1h,omitempty" yaml:"long_cache_write_1h,omitempty"`
}

// ErrNegativePrice is returned by Validate for a price below zero.
var ErrNegativePrice = errors.New("usage: negative price")

// Validate rejects negative prices.
func (p Price) Validate() error {
	for _, v := range []int64{p.Input, p.Output, p.CachedInput, p.CacheWrite, p.CacheWrite1h, p.LongContextThreshold,
		p.LongInput, p.LongOutput, p.LongCachedInput, p.LongCacheWrite, p.LongCacheWrite1h} {
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
// writes are the 5-minute TTL rate; one-hour writes are twice the input
// price unless an entry says otherwise. Operators override any entry in
// config.
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
	"o1-mini":                {Input: m(1.10), Output: m(4.40), CachedInput: m(0.55)},
	"gpt-5-pro":              {Input: m(15), Output: m(120)},
	"o3-pro":                 {Input: m(20), Output: m(80)},
	"o1-pro":                 {Input: m(150), Output: m(600)},
	"o3-deep-research":       {Input: m(10), Output: m(40), CachedInput: m(2.50)},
	"o4-mini-deep-research":  {Input: m(2), Output: m(8), CachedInput: m(0.50)},
	"gpt-5-codex":            {Input: m(1.25), Output: m(10), CachedInput: m(0.125)},
	"gpt-4o-2024-05-13":      {Input: m(5), Output: m(15)},
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

// Lookup returns the price of an upstream model: the entry for its exact
// name, else for the name without a snapshot suffix ("-2025-04-14",
// "-20250929", "@20250929", "-latest"), else the same for the part after
// the last "/" (a vendor prefix; an override keyed "Qwen/Qwen2.5-7B" is
// found under its own name first). A variant with any other suffix
// ("gpt-5-pro", "o3-deep-research") is another model at another price:
// it has none unless listed, so a budgeted key fails closed rather than
// being billed at the base model's price.
func (t *Table) Lookup(model string) (Price, bool) {
	names := [2]string{model, model}
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		names[1] = model[i+1:]
	}
	for _, name := range names {
		if p, ok := t.prices[name]; ok {
			return p, true
		}
		if base, ok := snapshotOf(name); ok {
			if p, ok := t.prices[base]; ok {
				return p, true
			}
		}
	}
	return Price{}, false
}

// snapshotOf returns name without a snapshot suffix: a date written
// -YYYY-MM-DD (OpenAI), -YYYYMMDD (Anthropic) or @YYYYMMDD (Vertex), or
// -latest.
func snapshotOf(name string) (string, bool) {
	if base, ok := strings.CutSuffix(name, "-latest"); ok {
		return base, true
	}
	n := len(name)
	switch {
	case n > 11 && name[n-11] == '-' && name[n-6] == '-' && name[n-3] == '-' &&
		digits(name[n-10:n-6]) && digits(name[n-5:n-3]) && digits(name[n-2:]):
		return name[:n-11], true
	case n > 9 && (name[n-9] == '-' || name[n-9] == '@') && digits(name[n-8:]):
		return name[:n-9], true
	}
	return "", false
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
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
	r := p.rates(tok)
	plain := tok.PromptTokens - tok.CachedTokens - tok.CacheWriteTokens
	var sum wide
	sum.addProduct(plain, r.in)
	sum.addProduct(tok.CachedTokens, r.cached)
	sum.addProduct(tok.CacheWriteTokens-tok.CacheWrite1hTokens, r.write)
	sum.addProduct(tok.CacheWrite1hTokens, r.write1h)
	sum.addProduct(tok.CompletionTokens, r.out)
	return sum.ceilMicros()
}

// rates are the per-million prices that apply to one call.
type rates struct{ in, out, cached, write, write1h int64 }

// rates picks the tier of a call: the long-context one above its threshold.
func (p Price) rates(tok Tokens) rates {
	return p.tier(p.LongContextThreshold > 0 && tok.PromptTokens > p.LongContextThreshold)
}

// tier is the rates of the base or the long-context tier — where a price
// left at 0 is the base tier's (never free) — with cache prices left at 0
// filled in: reads and 5-minute writes at the tier's input price, one-hour
// writes at twice it.
func (p Price) tier(long bool) rates {
	r := rates{p.Input, p.Output, p.CachedInput, p.CacheWrite, p.CacheWrite1h}
	if long {
		r = rates{or(p.LongInput, p.Input), or(p.LongOutput, p.Output), p.LongCachedInput, p.LongCacheWrite, p.LongCacheWrite1h}
	}
	r.cached = or(r.cached, r.in)
	r.write = or(r.write, r.in)
	r.write1h = or(r.write1h, min(r.in, math.MaxInt64/2)*2)
	return r
}

// Ceiling is the most one token can cost in a tier (long: the
// long-context one), per million: the dearest of the prompt's kinds —
// plain input, cache reads, and cache writes of either TTL, which the
// client picks per block — and the output price. A budget reserves at
// these, so no call can be settled above its reservation.
func (p Price) Ceiling(long bool) (prompt, output int64) {
	r := p.tier(long)
	return max(r.in, r.cached, r.write, r.write1h), r.out
}

// or is v, or fallback when v is 0.
func or(v, fallback int64) int64 {
	if v != 0 {
		return v
	}
	return fallback
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
