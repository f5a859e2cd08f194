package limit

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestWorstCaseMicros(t *testing.T) {
	sonnet := Price{
		InputPerMTok: 3_000_000, OutputPerMTok: 15_000_000,
		CacheWritePerMTok: 3_750_000, CacheReadPerMTok: 300_000,
		LongContextThreshold: 200_000, LongInputPerMTok: 6_000_000,
		LongOutputPerMTok: 22_500_000, LongCacheWritePerMTok: 7_500_000,
	}
	tests := []struct {
		name           string
		price          Price
		prompt, output int64
		want           int64
	}{
		{"cache write is the highest input tier", sonnet, 1000, 1000, 3_750 + 15_000},
		{"long context tier above threshold", sonnet, 200_001, 1000, 1_500_008 + 22_500},
		{"at threshold stays standard", sonnet, 200_000, 0, 750_000},
		{"rounds up", Price{InputPerMTok: 1}, 1, 0, 1},
		{"free model", Price{}, 1_000_000, 1_000_000, 0},
		{"saturates", Price{InputPerMTok: math.MaxInt64}, math.MaxInt64, 1, math.MaxInt64},
		{"negative tokens count as zero", sonnet, -5, -5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WorstCaseMicros(tt.price, tt.prompt, tt.output); got != tt.want {
				t.Fatalf("WorstCaseMicros = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCostNeverExceedsWorstCase(t *testing.T) {
	p := Price{InputPerMTok: 2_500_000, OutputPerMTok: 10_000_000, CacheWritePerMTok: 3_125_000,
		CacheReadPerMTok: 250_000, LongContextThreshold: 1000, LongInputPerMTok: 5_000_000, LongOutputPerMTok: 20_000_000}
	tests := []struct {
		name string
		u    Usage
	}{
		{"plain", Usage{InputTokens: 999, OutputTokens: 77}},
		{"cache mix", Usage{InputTokens: 10, CacheWriteTokens: 500, CacheReadTokens: 400, OutputTokens: 3}},
		{"long", Usage{InputTokens: 1500, OutputTokens: 1000}},
		{"long cache write", Usage{CacheWriteTokens: 2000, OutputTokens: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt := tt.u.InputTokens + tt.u.CacheWriteTokens + tt.u.CacheReadTokens
			if c, w := CostMicros(p, tt.u), WorstCaseMicros(p, prompt, tt.u.OutputTokens); c > w || c <= 0 {
				t.Fatalf("cost %d, worst case %d", c, w)
			}
		})
	}
}

func TestSetHeaders(t *testing.T) {
	h := http.Header{}
	SetHeaders(h,
		Decision{Allowed: true, Limit: 60, Remaining: 59, Reset: time.Second},
		Decision{Allowed: false, Limit: 1000, Remaining: 10, Reset: 1500 * time.Millisecond, RetryAfter: 1100 * time.Millisecond})
	want := map[string]string{
		"x-ratelimit-limit-requests":     "60",
		"x-ratelimit-remaining-requests": "59",
		"x-ratelimit-reset-requests":     "1s",
		"x-ratelimit-limit-tokens":       "1000",
		"x-ratelimit-remaining-tokens":   "10",
		"x-ratelimit-reset-tokens":       "1.5s",
		"retry-after":                    "2",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h = http.Header{}
	SetHeaders(h, Decision{}, Decision{})
	if len(h) != 0 {
		t.Fatalf("no limits configured but headers set: %v", h)
	}
}

func TestFormatReset(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {time.Nanosecond, "1ms"}, {20 * time.Millisecond, "20ms"},
		{6 * time.Minute, "6m0s"}, {1500*time.Millisecond + 1, "1.501s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatReset(tt.in); got != tt.want {
				t.Fatalf("FormatReset(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPeriodWindow(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("minus2", -2*3600)) // 2027-01-01 01:30 UTC
	tests := []struct {
		p          Period
		start, end time.Time
	}{
		{PeriodDaily, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)},
		{PeriodMonthly, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
		{PeriodTotal, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			s, e := tt.p.Window(at)
			if !s.Equal(tt.start) || !e.Equal(tt.end) {
				t.Fatalf("Window = %v..%v, want %v..%v", s, e, tt.start, tt.end)
			}
		})
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"", "daily", "monthly", "total", "weekly", "DAILY", "daily\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			return
		}
		if p != PeriodDaily && p != PeriodMonthly && p != PeriodTotal {
			t.Fatalf("ParsePeriod(%q) = %q", s, p)
		}
	})
}

// FuzzBucket checks GCRA invariants on arbitrary sequences: debt never goes
// negative or beyond capacity through Admit, and an admitted cost never
// leaves fewer than zero remaining.
func FuzzBucket(f *testing.F) {
	f.Add(int64(10), int64(3), int64(1_000_000), int64(-2))
	f.Add(int64(1), int64(1), int64(0), int64(5))
	f.Add(int64(38_000_000), int64(38_000_000), int64(59_999_999_999), int64(-38_000_000))
	f.Fuzz(func(t *testing.T, n, cost, elapsed, delta int64) {
		r := PerMinute(n)
		if r.Validate() != nil || elapsed < 0 {
			return
		}
		capacity := n * int64(r.Period)
		var b Bucket
		for i := range 4 {
			nb, d, err := b.Drain(r, int64(i)*elapsed).Admit(r, cost)
			if err != nil {
				if cost <= n {
					t.Fatalf("cost %d ≤ limit %d refused with %v", cost, n, err)
				}
				return
			}
			if nb.Debt < 0 || (d.Allowed && nb.Debt > capacity) || nb.Debt > 2*capacity || d.Remaining < 0 || d.Remaining > n {
				t.Fatalf("step %d: bucket %+v decision %+v (capacity %d)", i, nb, d, capacity)
			}
			b = nb.Charge(r, delta)
			if b.Debt < 0 || b.Debt > 2*capacity {
				t.Fatalf("debt %d out of [0, 2*capacity] after charge %d", b.Debt, delta)
			}
		}
	})
}
