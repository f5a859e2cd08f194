package usage

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// FromOpenAI reads the "usage" object of an OpenAI chat completion,
// completion chunk or embeddings response. ok is false when the body has no
// usage object (an ordinary stream chunk).
func FromOpenAI(body []byte) (t Tokens, ok bool) {
	// body is only read here and nothing of it is kept, so it is searched
	// in place (GetBytes copies the usage object out of it).
	u := gjson.Get(unsafe.String(unsafe.SliceData(body), len(body)), "usage") //nolint:gosec // G103: read-only view for this call; only integers are kept
	if !u.IsObject() {
		return Tokens{}, false
	}
	if t, ok := plainOpenAI(u.Raw); ok {
		return t.Clamped(), true
	}
	t.PromptTokens = u.Get("prompt_tokens").Int()
	t.CompletionTokens = u.Get("completion_tokens").Int()
	t.CachedTokens = u.Get("prompt_tokens_details.cached_tokens").Int()
	t.ReasoningTokens = u.Get("completion_tokens_details.reasoning_tokens").Int()
	return t.Clamped(), true
}

// FromOpenAIChunk reads a stream chunk's usage as FromOpenAI does, and
// reports whether the chunk has no choices ("choices" absent, null or an
// empty array: the chunk that carries a stream's usage), as Choiceless
// does.
func FromOpenAIChunk(chunk []byte) (t Tokens, ok, choiceless bool) {
	// Only read, never kept: viewed in place.
	s := unsafe.String(unsafe.SliceData(chunk), len(chunk)) //nolint:gosec // G103: read-only view for this call
	if t, ok, choiceless, plain := plainOpenAIChunk(s); plain {
		return t.Clamped(), ok, choiceless
	}
	t, ok = FromOpenAI(chunk)
	return t, ok, Choiceless(chunk)
}

// Choiceless reports whether an OpenAI chunk has no "choices" (absent,
// null or an empty array: the usage chunk), without building the array.
func Choiceless(chunk []byte) bool {
	// A view of chunk, not a copy: nothing of it outlives this call.
	c := gjson.Get(unsafe.String(unsafe.SliceData(chunk), len(chunk)), "choices") //nolint:gosec // G103: read-only view, not retained
	if !c.Exists() || c.Type == gjson.Null {
		return true
	}
	return c.IsArray() && strings.TrimLeft(c.Raw[1:], " \t\r\n") == "]"
}

// FromAnthropic reads an Anthropic usage object (a message's "usage", or
// the "usage" of a message_start's message / a message_delta event) into t,
// overwriting only the fields present and not null. Anthropic reports input_tokens
// without the cache parts, so PromptTokens is their sum.
func FromAnthropic(t *Tokens, u gjson.Result) bool {
	if !u.IsObject() {
		return false
	}
	in, cr, cw := u.Get("input_tokens"), u.Get("cache_read_input_tokens"), u.Get("cache_creation_input_tokens")
	if given(in) || given(cr) || given(cw) {
		// The uncached rest is taken before the cache counts change: a
		// delta with a null input_tokens keeps message_start's.
		base := t.PromptTokens - t.CachedTokens - t.CacheWriteTokens
		if given(in) {
			base = in.Int()
		}
		if given(cr) {
			t.CachedTokens = cr.Int()
		}
		if given(cw) {
			t.CacheWriteTokens = cw.Int()
		}
		t.PromptTokens = base + t.CachedTokens + t.CacheWriteTokens
	}
	if w1h := u.Get("cache_creation.ephemeral_1h_input_tokens"); given(w1h) {
		t.CacheWrite1hTokens = w1h.Int()
	}
	if out := u.Get("output_tokens"); given(out) {
		t.CompletionTokens = out.Int() // cumulative in message_delta
	}
	*t = t.Clamped()
	return true
}

// given reports whether an Anthropic usage member carries a count. The
// members of a message_delta's usage are nullable; a null means "no news",
// as the official SDKs' accumulators read it, and keeps message_start's.
func given(r gjson.Result) bool { return r.Exists() && r.Type != gjson.Null }

// Clamped keeps hostile or broken upstream numbers from producing negative
// or absurd counts that would corrupt budgets.
func (t Tokens) Clamped() Tokens {
	const maxTokens = 1 << 40
	c := func(v int64) int64 { return max(0, min(v, maxTokens)) }
	t.PromptTokens, t.CompletionTokens = c(t.PromptTokens), c(t.CompletionTokens)
	t.CachedTokens = min(c(t.CachedTokens), t.PromptTokens)
	t.CacheWriteTokens = min(c(t.CacheWriteTokens), t.PromptTokens-t.CachedTokens)
	t.CacheWrite1hTokens = min(c(t.CacheWrite1hTokens), t.CacheWriteTokens)
	t.ReasoningTokens = min(c(t.ReasoningTokens), t.CompletionTokens)
	return t
}
