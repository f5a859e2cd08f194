package limit

import (
	"strconv"
	"testing"
)

// TestParseSpecCacheSameAnswer checks the memoised ParseSpec against the
// uncached decode for every text, on first and repeated calls: a cached
// answer must never differ, and an invalid text must fail every time.
func TestParseSpecCacheSameAnswer(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"rates", `{"rpm":60,"tpm":1000,"max_parallel":4}`, true},
		{"budget", `{"budget_usd":50,"budget_period":"monthly"}`, true},
		{"unknown field", `{"rpm":1,"burst":3}`, false},
		{"negative", `{"rpm":-1}`, false},
		{"period without budget", `{"budget_period":"daily"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := parseSpec(tt.in)
			for i := range 3 {
				got, err := ParseSpec(tt.in)
				if (err == nil) != tt.ok || (wantErr == nil) != tt.ok {
					t.Fatalf("call %d: err = %v (uncached %v), want ok=%v", i, err, wantErr, tt.ok)
				}
				if tt.ok && got.Subject("k") != want.Subject("k") {
					t.Fatalf("call %d: %+v, uncached %+v", i, got.Subject("k"), want.Subject("k"))
				}
			}
		})
	}
}

// TestParseSpecCacheOwnsBudget checks that a caller changing the budget of
// a returned Spec cannot change what the next caller gets.
func TestParseSpecCacheOwnsBudget(t *testing.T) {
	const in = `{"budget_usd":5}`
	a, err := ParseSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	*a.BudgetUSD = 1_000_000_000
	b, err := ParseSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if *b.BudgetUSD != 5_000_000 {
		t.Fatalf("cached budget changed through a returned Spec: %d", *b.BudgetUSD)
	}
}

// TestParseSpecCacheBounded checks that many distinct texts never grow the
// cache past its bound.
func TestParseSpecCacheBounded(t *testing.T) {
	for i := range maxCachedSpecs + 100 {
		if _, err := ParseSpec(`{"rpm":` + strconv.Itoa(i+1) + `}`); err != nil {
			t.Fatal(err)
		}
	}
	parsedSpecs.mu.RLock()
	n := len(parsedSpecs.m)
	parsedSpecs.mu.RUnlock()
	if n > maxCachedSpecs {
		t.Fatalf("cache holds %d specs, bound %d", n, maxCachedSpecs)
	}
}

// BenchmarkParseSpec is the per-request cost of reading a key's limits.
func BenchmarkParseSpec(b *testing.B) {
	const in = `{"rpm":600,"tpm":100000,"max_parallel":8,"budget_usd":50,"budget_period":"monthly"}`
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseSpec(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseSpec(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
