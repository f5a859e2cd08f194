package limit_test

import (
	"errors"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

var usdCases = []struct {
	name, in string
	want     int64
	ok       bool
}{
	{"whole", "50", 50_000_000, true},
	{"cents", "12.34", 12_340_000, true},
	{"one micro", "0.000001", 1, true},
	{"zero", "0", 0, true},
	{"seven decimals", "0.0000001", 0, false},
	{"negative", "-1", 0, false},
	{"exponent", "1e2", 0, false},
	{"empty", "", 0, false},
	{"dot only", ".", 0, false},
	{"trailing dot", "5.", 0, false},
	{"huge", "99999999999999999999", 0, false},
}

func TestParseUSD(t *testing.T) {
	for _, tt := range usdCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := limit.ParseUSD(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseUSD(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, limit.ErrInvalidSpec) {
				t.Fatalf("error %v does not wrap ErrInvalidSpec", err)
			}
		})
	}
}

var specCases = []struct {
	name, in string
	ok       bool
	want     limit.Subject
}{
	{"empty", "", true, limit.Subject{ID: "key:a"}},
	{"rates", `{"rpm":60,"tpm":1000,"max_parallel":4}`, true, limit.Subject{ID: "key:a", RPM: 60, TPM: 1000, MaxParallel: 4}},
	{"budget total by default", `{"budget_usd":50}`, true,
		limit.Subject{ID: "key:a", Budgeted: true, BudgetMicros: 50_000_000, BudgetPeriod: limit.PeriodTotal}},
	{"zero budget is a budget", `{"budget_usd":0,"budget_period":"daily"}`, true,
		limit.Subject{ID: "key:a", Budgeted: true, BudgetPeriod: limit.PeriodDaily}},
	{"fractional budget exact", `{"budget_usd":0.1}`, true,
		limit.Subject{ID: "key:a", Budgeted: true, BudgetMicros: 100_000, BudgetPeriod: limit.PeriodTotal}},
	{"unknown field", `{"rpm":1,"burst":3}`, false, limit.Subject{}},
	{"negative", `{"rpm":-1}`, false, limit.Subject{}},
	{"bad period", `{"budget_usd":1,"budget_period":"weekly"}`, false, limit.Subject{}},
	{"period without budget", `{"budget_period":"daily"}`, false, limit.Subject{}},
	{"trailing", `{"rpm":1} {}`, false, limit.Subject{}},
	{"too many decimals", `{"budget_usd":0.0000001}`, false, limit.Subject{}},
}

func TestParseSpec(t *testing.T) {
	for _, tt := range specCases {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := limit.ParseSpec(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSpec(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if got := sp.Subject("key:a"); got != tt.want {
				t.Fatalf("Subject = %+v, want %+v", got, tt.want)
			}
			// The stored JSON round-trips to the same limits.
			again, err := limit.ParseSpec(sp.JSON())
			if err != nil || again.Subject("key:a") != tt.want {
				t.Fatalf("round trip of %q: %+v, %v", sp.JSON(), again, err)
			}
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, tt := range specCases {
		f.Add(tt.in)
	}
	for _, tt := range usdCases {
		f.Add(`{"budget_usd":` + tt.in + `}`)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := limit.ParseSpec(s)
		if err != nil {
			return
		}
		sub := sp.Subject("x")
		if sub.RPM < 0 || sub.TPM < 0 || sub.MaxParallel < 0 || sub.BudgetMicros < 0 {
			t.Fatalf("accepted negative limits: %+v", sub)
		}
		again, err := limit.ParseSpec(sp.JSON())
		if err != nil || again.Subject("x") != sub {
			t.Fatalf("round trip of %q failed: %v", sp.JSON(), err)
		}
	})
}

func FuzzParseUSD(f *testing.F) {
	for _, tt := range usdCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := limit.ParseUSD(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseUSD(%q) = %d < 0", s, v)
		}
		back, err := limit.ParseUSD(limit.USD(v).String())
		if err != nil || back != v {
			t.Fatalf("round trip %q → %d → %q → %d, %v", s, v, limit.USD(v).String(), back, err)
		}
	})
}
