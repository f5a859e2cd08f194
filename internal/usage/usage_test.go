package usage

import (
	"math"
	"math/big"
	"testing"

	"github.com/tidwall/gjson"
)

func TestCost(t *testing.T) {
	tests := []struct {
		name   string
		model  string
		tok    Tokens
		want   int64
		wantOK bool
	}{
		{"gpt-4o-mini 1M in 1M out", "gpt-4o-mini", Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}, 750_000, true},
		{"cached input is cheaper", "gpt-4o", Tokens{PromptTokens: 1_000_000, CachedTokens: 1_000_000}, 1_250_000, true},
		{"dated snapshot uses family price", "claude-sonnet-4-5-20250929", Tokens{PromptTokens: 1000, CompletionTokens: 1000}, 18_000, true},
		{"anthropic cache write and read", "claude-haiku-4-5", Tokens{PromptTokens: 3_000_000, CacheWriteTokens: 1_000_000, CachedTokens: 1_000_000}, 1_000_000 + 1_250_000 + 100_000, true},
		{"long context tier", "claude-sonnet-4-5", Tokens{PromptTokens: 300_000, CompletionTokens: 1000}, 300_000*6 + 1000*22.5, true},
		{"provider prefix ignored", "anthropic/claude-opus-4-5", Tokens{CompletionTokens: 1_000_000}, 25_000_000, true},
		{"one token rounds up", "gpt-4o-mini", Tokens{PromptTokens: 1}, 1, true},
		{"longest prefix wins", "gpt-4o-mini-2024-07-18", Tokens{PromptTokens: 1_000_000}, 150_000, true},
		{"prefix needs a dash boundary", "gpt-4oz", Tokens{PromptTokens: 1_000_000}, 0, false},
		{"Anthropic snapshot", "claude-haiku-4-5-20251001", Tokens{PromptTokens: 1_000_000}, 1_000_000, true},
		{"Vertex snapshot", "claude-sonnet-4-5@20250929", Tokens{PromptTokens: 100_000}, 300_000, true},
		{"-latest alias", "claude-3-5-haiku-latest", Tokens{PromptTokens: 1_000_000}, 800_000, true},
		{"a listed snapshot keeps its own price", "gpt-4o-2024-05-13", Tokens{PromptTokens: 1_000_000}, 5_000_000, true},
		// A variant is another model: priced as listed, never as its base.
		{"gpt-5-pro is not gpt-5", "gpt-5-pro", Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}, 135_000_000, true},
		{"o3-pro is not o3", "o3-pro-2025-06-10", Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}, 100_000_000, true},
		{"o1-pro is not o1", "o1-pro", Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}, 750_000_000, true},
		{"o1-mini is not o1", "o1-mini", Tokens{PromptTokens: 1_000_000}, 1_100_000, true},
		{"an unlisted variant has no price", "gpt-4o-mini-search-preview", Tokens{PromptTokens: 1_000_000}, 0, false},
		// Anthropic bills one-hour cache writes at 2× input, 5-minute ones at 1.25×.
		{"one-hour cache writes", "claude-haiku-4-5", Tokens{PromptTokens: 1_000_000, CacheWriteTokens: 1_000_000, CacheWrite1hTokens: 600_000}, 400_000*1.25 + 600_000*2, true},
		{"one-hour cache writes in the long tier", "claude-sonnet-4-5", Tokens{PromptTokens: 300_000, CacheWriteTokens: 300_000, CacheWrite1hTokens: 300_000}, 300_000 * 12, true},
		{"unknown model", "llama3", Tokens{PromptTokens: 1_000_000}, 0, false},
	}
	tab, err := NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tab.Cost(tt.model, tt.tok)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Cost = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// An operator's price for an upstream name with a "/" (vLLM's
// "Qwen/Qwen2.5-7B-Instruct", OpenRouter's "anthropic/…") is found under
// that name: the vendor prefix is dropped only when nothing matches.
func TestOverrideWithSlashInName(t *testing.T) {
	tab, err := NewTable(map[string]Price{"Qwen/Qwen2.5-7B-Instruct": {Input: 1_000_000, Output: 2_000_000}, "org/text": {Output: 3_000_000}, "text": {Output: 1_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]int64{"Qwen/Qwen2.5-7B-Instruct": 3_000_000, "org/text": 3_000_000, "other/text": 1_000_000} {
		if c, ok := tab.Cost(model, Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}); !ok || c != want {
			t.Errorf("Cost(%s) = %d, %v; want %d", model, c, ok, want)
		}
	}
}

// A price with a long-context threshold but no long-tier prices keeps its
// base prices above the threshold: the tier used to fall to zero, making
// the largest requests free.
func TestLongTierWithoutLongPrices(t *testing.T) {
	p := Price{Input: m(3), Output: m(15), LongContextThreshold: 200_000}
	small := p.Cost(Tokens{PromptTokens: 200_000, CompletionTokens: 1000})
	big := p.Cost(Tokens{PromptTokens: 200_001, CompletionTokens: 1000})
	if big < small {
		t.Errorf("Cost(200001 prompt) = %d < Cost(200000 prompt) = %d", big, small)
	}
}

// Cost is exact in 128 bits and saturates: clamped counts (2^40) at a
// long-context price wrapped int64 into a negative cost, which a budget
// then refused to settle.
func TestCostExtremes(t *testing.T) {
	const most = 1 << 40
	prices := []Price{
		{Input: m(3), Output: m(15), LongContextThreshold: 200_000, LongInput: m(6), LongOutput: m(22.50)},
		{Input: m(15), Output: m(75), CachedInput: m(1.50), CacheWrite: m(18.75)},
		{Input: math.MaxInt64, Output: math.MaxInt64},
	}
	toks := []Tokens{
		{PromptTokens: most, CompletionTokens: most},
		{PromptTokens: most, CachedTokens: most / 2, CacheWriteTokens: most / 4, CompletionTokens: 7},
		{PromptTokens: 1, CompletionTokens: 1},
	}
	for _, p := range prices {
		for _, tok := range toks {
			if got, want := p.Cost(tok), bigCost(p, tok); got != want {
				t.Errorf("Cost(%+v) at %+v = %d, want %d", tok, p, got, want)
			}
		}
	}
	tab, err := NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := FromOpenAI([]byte(`{"usage":{"prompt_tokens":99999999999999999,"completion_tokens":99999999999999999}}`))
	if c, _ := tab.Cost("claude-sonnet-4-5", tok); c <= 0 {
		t.Errorf("cost of %+v = %d micro-USD, want a large positive cost", tok, c)
	}
}

// bigCost is Price.Cost's arithmetic in arbitrary precision, saturated at
// MaxInt64 (the rates are TestCost's to check).
func bigCost(p Price, tok Tokens) int64 {
	r := p.rates(tok)
	sum := new(big.Int)
	for _, tp := range [][2]int64{{tok.PromptTokens - tok.CachedTokens - tok.CacheWriteTokens, r.in}, {tok.CachedTokens, r.cached},
		{tok.CacheWriteTokens - tok.CacheWrite1hTokens, r.write}, {tok.CacheWrite1hTokens, r.write1h}, {tok.CompletionTokens, r.out}} {
		if tp[0] > 0 && tp[1] > 0 {
			sum.Add(sum, new(big.Int).Mul(big.NewInt(tp[0]), big.NewInt(tp[1])))
		}
	}
	sum.Add(sum, big.NewInt(999_999))
	sum.Quo(sum, big.NewInt(1_000_000))
	if !sum.IsInt64() {
		return math.MaxInt64
	}
	return sum.Int64()
}

func FuzzCost(f *testing.F) {
	f.Add(int64(1<<40), int64(0), int64(0), int64(1<<40), int64(22_500_000), int64(6_000_000))
	f.Add(int64(1), int64(0), int64(0), int64(1), int64(1), int64(1))
	f.Fuzz(func(t *testing.T, prompt, cached, write, completion, in, out int64) {
		tok := Tokens{PromptTokens: prompt, CachedTokens: cached, CacheWriteTokens: write, CacheWrite1hTokens: write / 3, CompletionTokens: completion}.Clamped()
		p := Price{Input: max(in, 0), Output: max(out, 0), LongContextThreshold: 1000, LongOutput: max(out/2, 0)}
		if got, want := p.Cost(tok), bigCost(p, tok); got != want || got < 0 {
			t.Fatalf("Cost(%+v) at %+v = %d, want %d", tok, p, got, want)
		}
	})
}

func TestOverrides(t *testing.T) {
	tab, err := NewTable(map[string]Price{"llama3": {Input: 1_000_000, Output: 2_000_000}, "gpt-4o": {Input: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := tab.Cost("llama3", Tokens{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}); !ok || c != 3_000_000 {
		t.Errorf("override cost = %d %v", c, ok)
	}
	if c, _ := tab.Cost("gpt-4o", Tokens{PromptTokens: 1_000_000}); c != 1 {
		t.Errorf("override did not replace the default: %d", c)
	}
	if _, err := NewTable(map[string]Price{"x": {Output: -5}}); err == nil {
		t.Error("negative price accepted")
	}
}

func TestExtractUsage(t *testing.T) {
	tests := []struct {
		name      string
		anthropic bool
		bodies    []string
		want      Tokens
	}{
		{name: "openai with details", bodies: []string{`{"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":5}}}`},
			want: Tokens{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 40, ReasoningTokens: 5}},
		{name: "openai duplicated members: the first counts", bodies: []string{`{"usage":{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens":9000,"prompt_tokens_details":{"cached_tokens":3},"prompt_tokens_details":{"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":1}}}`},
			want: Tokens{PromptTokens: 7, CompletionTokens: 2, CachedTokens: 3, ReasoningTokens: 1}},
		{name: "openai escaped member names", bodies: []string{`{"usage":{"prompt\u005ftokens":11,"completion_tokens":4}}`},
			want: Tokens{PromptTokens: 11, CompletionTokens: 4}},
		{name: "openai hostile numbers clamped", bodies: []string{`{"usage":{"prompt_tokens":-5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":99}}}`},
			want: Tokens{CompletionTokens: 3}},
		{name: "anthropic message_start then delta", anthropic: true, bodies: []string{
			`{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"output_tokens":1}`, `{"output_tokens":42}`},
			want: Tokens{PromptTokens: 160, CachedTokens: 100, CacheWriteTokens: 50, CompletionTokens: 42}},
		// message_delta's members are nullable: a null is "no news", as the
		// official SDKs' accumulators read it, never a zero.
		{name: "anthropic delta with null members keeps message_start", anthropic: true, bodies: []string{
			`{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"output_tokens":1}`,
			`{"input_tokens":null,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":42}`},
			want: Tokens{PromptTokens: 160, CachedTokens: 100, CacheWriteTokens: 50, CompletionTokens: 42}},
		{name: "anthropic delta with null input but a cache count keeps the input", anthropic: true, bodies: []string{
			`{"input_tokens":100,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}`,
			`{"input_tokens":null,"cache_read_input_tokens":50,"cache_creation_input_tokens":null,"output_tokens":20}`},
			want: Tokens{PromptTokens: 150, CachedTokens: 50, CompletionTokens: 20}},
		{name: "anthropic one-hour cache writes", anthropic: true, bodies: []string{
			`{"input_tokens":5,"cache_creation_input_tokens":1000,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":400,"ephemeral_1h_input_tokens":600},"output_tokens":1}`},
			want: Tokens{PromptTokens: 1005, CacheWriteTokens: 1000, CacheWrite1hTokens: 600, CompletionTokens: 1}},
		{name: "anthropic one-hour writes never exceed the writes", anthropic: true, bodies: []string{
			`{"input_tokens":5,"cache_creation_input_tokens":10,"cache_creation":{"ephemeral_1h_input_tokens":900},"output_tokens":1}`},
			want: Tokens{PromptTokens: 15, CacheWriteTokens: 10, CacheWrite1hTokens: 10, CompletionTokens: 1}},
		{name: "anthropic null output keeps the count", anthropic: true, bodies: []string{
			`{"input_tokens":10,"output_tokens":3}`, `{"output_tokens":null}`},
			want: Tokens{PromptTokens: 10, CompletionTokens: 3}},
		{name: "anthropic delta repeats input", anthropic: true, bodies: []string{
			`{"input_tokens":10,"output_tokens":1}`, `{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}`},
			want: Tokens{PromptTokens: 15, CachedTokens: 5, CompletionTokens: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Tokens
			for _, b := range tt.bodies {
				if tt.anthropic {
					if !FromAnthropic(&got, gjson.Parse(b)) {
						t.Fatal("usage not found")
					}
				} else {
					var ok bool
					if got, ok = FromOpenAI([]byte(b)); !ok {
						t.Fatal("usage not found")
					}
				}
			}
			if got != tt.want {
				t.Errorf("tokens = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEstimateTokens(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want int64
	}{{0, 0}, {1, 1}, {4, 1}, {5, 2}, {4000, 1000}} {
		if got := EstimateTokens(tt.n); got != tt.want {
			t.Errorf("EstimateTokens(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// FuzzFromOpenAI checks that any upstream usage object yields counts that
// are non-negative and internally consistent, so a hostile upstream cannot
// produce negative cost or budgets.
func FuzzFromOpenAI(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":5}}}`))
	f.Add([]byte(`{"usage":{"prompt_tokens":-5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":99}}}`))
	f.Add([]byte(`{"usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"output_tokens":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tab, _ := NewTable(nil)
		t1, _ := FromOpenAI(body)
		var t2 Tokens
		FromAnthropic(&t2, gjson.GetBytes(body, "usage"))
		for _, tok := range []Tokens{t1, t2} {
			if tok.PromptTokens < 0 || tok.CompletionTokens < 0 || tok.CachedTokens < 0 || tok.CacheWriteTokens < 0 ||
				tok.CachedTokens+tok.CacheWriteTokens > tok.PromptTokens || tok.ReasoningTokens > tok.CompletionTokens {
				t.Fatalf("inconsistent tokens %+v from %q", tok, body)
			}
			if c, _ := tab.Cost("claude-sonnet-4-5", tok); c < 0 {
				t.Fatalf("negative cost %d", c)
			}
		}
	})
}

// usageChunk is the final chunk of an OpenAI stream that asked for usage.
var usageChunk = []byte(`{"choices":[],"created":1700000000,"id":"chatcmpl-mock86","model":"gpt-4o-mini","object":"chat.completion.chunk","system_fingerprint":null,"usage":{"completion_tokens":28,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":86,"prompt_tokens_details":{"cached_tokens":0},"total_tokens":114}}`)

func BenchmarkFromOpenAI(b *testing.B) {
	for range b.N {
		if _, ok := FromOpenAI(usageChunk); !ok {
			b.Fatal("no usage")
		}
	}
}

// gjsonOpenAI is FromOpenAI's reading of a usage object by path lookups,
// the reference plainOpenAI must agree with.
func gjsonOpenAI(raw string) Tokens {
	u := gjson.Parse(raw)
	return Tokens{PromptTokens: u.Get("prompt_tokens").Int(), CompletionTokens: u.Get("completion_tokens").Int(),
		CachedTokens: u.Get("prompt_tokens_details.cached_tokens").Int(), ReasoningTokens: u.Get("completion_tokens_details.reasoning_tokens").Int()}
}

var plainCases = []struct {
	raw   string
	plain bool // read in one pass; otherwise left to the path lookups
}{
	{`{"completion_tokens":28,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens":86,"prompt_tokens_details":{"cached_tokens":0},"total_tokens":114}`, true},
	{`{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":40,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"accepted_prediction_tokens":0}}`, true},
	{` { "prompt_tokens" : 3 , "completion_tokens":2 , "x":[1,{"a":[]},"s",null,true] } `, true},
	{`{"prompt_tokens":3}`, true},
	{`{}`, true},
	{`{"prompt_tokens":7,"prompt_tokens":9000}`, false},                                                  // duplicate: the first counts
	{`{"prompt_tokens_details":{"cached_tokens":3},"prompt_tokens_details":{"cached_tokens":6}}`, false}, // duplicate details
	{`{"prompt_tokens_details":{"cached_tokens":3,"cached_tokens":6}}`, false},
	{`{"prompt\u005ftokens":11}`, false}, // escaped name
	{`{"prompt_tokens":1.9}`, false},
	{`{"prompt_tokens":1e3}`, false},
	{`{"prompt_tokens":-5}`, false},
	{`{"prompt_tokens":"7"}`, false},
	{`{"prompt_tokens":true}`, false},
	{`{"prompt_tokens":0123}`, false},
	{`{"prompt_tokens":1234567890123456789}`, false}, // 19 digits
	{`{"prompt_tokens_details":null}`, false},
	{`{"x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],"prompt_tokens":1}`, false}, // nesting past the bound
	{`{"prompt_tokens":1}x`, false},
}

// plainOpenAI reads the plain form in one pass and gives every other form
// to the path lookups.
func TestPlainOpenAI(t *testing.T) {
	for _, tt := range plainCases {
		got, ok := plainOpenAI(tt.raw)
		if ok != tt.plain {
			t.Errorf("plainOpenAI(%s) ok = %v, want %v", tt.raw, ok, tt.plain)
		}
		if want := gjsonOpenAI(tt.raw); ok && got != want {
			t.Errorf("plainOpenAI(%s) = %+v, path lookups read %+v", tt.raw, got, want)
		}
	}
}

// FuzzPlainOpenAI: whenever the one-pass reading answers, it answers what
// the path lookups read.
func FuzzPlainOpenAI(f *testing.F) {
	for _, tt := range plainCases {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !gjson.Valid(raw) {
			return // FromOpenAI reads usage from an object gjson found
		}
		if got, ok := plainOpenAI(raw); ok && got != gjsonOpenAI(raw) {
			t.Fatalf("plainOpenAI(%q) = %+v, path lookups read %+v", raw, got, gjsonOpenAI(raw))
		}
	})
}

var chunkCases = []struct {
	chunk string
	plain bool // read in one walk; otherwise left to the path lookups
}{
	{string(usageChunk), true},
	{`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}`, true},
	{`{"id":"c","choices":[ ],"usage":{"prompt_tokens":1}}`, true},
	{`{"id":"c","choices":[` + "\n\t" + `],"usage":{}}`, true},
	{`{"id":"c","usage":{"prompt_tokens":1}}`, true},
	{`{"id":"c","choices":null,"usage":{"prompt_tokens":2,"completion_tokens":1}}`, true},
	{`{"id":"c","choices":[[]],"usage":{}}`, true},
	{`{"usage":{"prompt_tokens":-4,"prompt_tokens_details":{"cached_tokens":9}},"choices":[]}`, false}, // a count the lookups decide
	{`{"usage":{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":9}},"choices":[]}`, true},   // clamped alike
	{`{"usage":"x","choices":[]}`, true},
	{`{"choices":[],"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}`, false}, // duplicate: the first counts
	{`{"choices":[{"index":0}],"choices":[],"usage":{}}`, false},
	{`{"choices":[],"usage":{"prompt_tokens":1},"note":"a\"b"}`, false}, // a backslash anywhere
	{`{"choices":[],"usage":{"prompt_tokens":1}} x`, false},
	{`[{"usage":{"prompt_tokens":1}}]`, false},
	{`{"x":{"choices":[1],"usage":{"prompt_tokens":3}},"choices":[]}`, true}, // nested members are not the chunk's
}

// FromOpenAIChunk reads what FromOpenAI and Choiceless read, in one walk of
// a plain chunk.
func TestFromOpenAIChunk(t *testing.T) {
	for _, tt := range chunkCases {
		if _, _, _, plain := plainOpenAIChunk(tt.chunk); plain != tt.plain {
			t.Errorf("plainOpenAIChunk(%s) plain = %v, want %v", tt.chunk, plain, tt.plain)
		}
		checkChunk(t, []byte(tt.chunk))
	}
}

func checkChunk(t *testing.T, chunk []byte) {
	t.Helper()
	got, ok, none := FromOpenAIChunk(chunk)
	want, wantOK := FromOpenAI(chunk)
	if got != want || ok != wantOK || none != Choiceless(chunk) {
		t.Fatalf("FromOpenAIChunk(%q) = %+v, %v, %v; FromOpenAI and Choiceless read %+v, %v, %v",
			chunk, got, ok, none, want, wantOK, Choiceless(chunk))
	}
}

// FuzzFromOpenAIChunk: on any chunk that is JSON, the one walk reads what
// the two lookups read.
func FuzzFromOpenAIChunk(f *testing.F) {
	for _, tt := range chunkCases {
		f.Add([]byte(tt.chunk))
	}
	f.Fuzz(func(t *testing.T, chunk []byte) {
		if !gjson.ValidBytes(chunk) {
			return // an upstream's broken chunk breaks the client's parser whatever is read from it
		}
		checkChunk(t, chunk)
	})
}

// Choiceless is true only for a chunk without a choice (absent, null or
// empty); any chunk with a choice reaches the client.
func TestChoiceless(t *testing.T) {
	tests := []struct {
		chunk string
		want  bool
	}{
		{`{"id":"c","choices":[],"usage":{"prompt_tokens":1}}`, true},
		{`{"id":"c","choices":[ ],"usage":{"prompt_tokens":1}}`, true},
		{`{"id":"c","choices":[` + "\n\t" + `],"usage":{}}`, true},
		{`{"id":"c","usage":{"prompt_tokens":1}}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1}}`, false},
		{`{"id":"c","choices":[ {"index":0} ],"usage":{}}`, false},
		{`{"id":"c","choices":null,"usage":{}}`, true},
		{`{"id":"c","choices":[[]],"usage":{}}`, false},
	}
	for _, tt := range tests {
		if got := Choiceless([]byte(tt.chunk)); got != tt.want {
			t.Errorf("Choiceless(%s) = %v, want %v", tt.chunk, got, tt.want)
		}
		if old := len(gjson.Get(tt.chunk, "choices").Array()) == 0; old != tt.want {
			t.Errorf("Array() reading of %s = %v, want %v", tt.chunk, old, tt.want)
		}
		if _, _, none := FromOpenAIChunk([]byte(tt.chunk)); none != tt.want {
			t.Errorf("FromOpenAIChunk(%s) choiceless = %v, want %v", tt.chunk, none, tt.want)
		}
	}
}

func BenchmarkFromOpenAIChunk(b *testing.B) {
	for range b.N {
		if _, ok, none := FromOpenAIChunk(usageChunk); !ok || !none {
			b.Fatal("no usage")
		}
	}
}
