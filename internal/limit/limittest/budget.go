package limittest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

func runBudget(t *testing.T, factory Factory) {
	ctx := context.Background()
	const dollar = 1_000_000

	t.Run("200 parallel reservations on a budget for 50", func(t *testing.T) {
		impl, _ := setup(t, factory)
		key := limit.BudgetScope{ID: "key:k1", LimitMicros: 50 * dollar, Period: limit.PeriodMonthly}
		tenant := limit.BudgetScope{ID: "tenant:t1", LimitMicros: 1000 * dollar}
		var ok atomic.Int64
		var stop atomic.Bool
		var watch sync.WaitGroup
		watch.Go(func() { // reserved+spent must never exceed the limit, at any instant
			for !stop.Load() {
				u, err := impl.Budget.Usage(ctx, key)
				if err != nil || u.SpentMicros+u.ReservedMicros > key.LimitMicros {
					t.Errorf("usage %+v, %v exceeds limit", u, err)
					return
				}
			}
		})
		// Phase 1: all 200 race for holds; phase 2: the winners settle in
		// parallel below their worst case while the watcher checks totals.
		var mu sync.Mutex
		var holds []limit.BudgetReservation
		parallel(200, func(int) {
			res, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{key, tenant}, dollar)
			if err != nil {
				if !errors.Is(err, limit.ErrBudgetExceeded) {
					t.Error(err)
				}
				return
			}
			ok.Add(1)
			mu.Lock()
			holds = append(holds, res)
			mu.Unlock()
		})
		parallel(len(holds), func(i int) {
			actual := int64(dollar/2 + i*1000)
			if err := impl.Budget.Settle(ctx, holds[i], actual); err != nil {
				t.Error(err)
			}
		})
		stop.Store(true)
		watch.Wait()
		u, _ := impl.Budget.Usage(ctx, key)
		if ok.Load() > 50 || u.SpentMicros > key.LimitMicros || u.ReservedMicros != 0 {
			t.Fatalf("%d reservations succeeded (≤ 50), usage %+v", ok.Load(), u)
		}
		if ok.Load() < 50 {
			t.Fatalf("only %d of 200 reservations succeeded on a budget covering 50", ok.Load())
		}
		tu, _ := impl.Budget.Usage(ctx, tenant)
		if tu.SpentMicros != u.SpentMicros {
			t.Fatalf("tenant spent %d, key spent %d: both scopes must be charged", tu.SpentMicros, u.SpentMicros)
		}
	})

	t.Run("all or nothing and the error names the budget", func(t *testing.T) {
		impl, _ := setup(t, factory)
		key := limit.BudgetScope{ID: "key:k2", LimitMicros: 10 * dollar}
		tenant := limit.BudgetScope{ID: "tenant:small", LimitMicros: 5 * dollar, Period: limit.PeriodDaily}
		res, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{tenant}, 3*dollar)
		if err != nil {
			t.Fatal(err)
		}
		if err := impl.Budget.Settle(ctx, res, 3*dollar); err != nil {
			t.Fatal(err)
		}
		_, err = impl.Budget.Reserve(ctx, []limit.BudgetScope{key, tenant}, 3*dollar)
		var be *limit.BudgetExceededError
		if !errors.Is(err, limit.ErrBudgetExceeded) || !errors.As(err, &be) || be.Scope.ID != "tenant:small" {
			t.Fatalf("err = %v; want budget exceeded naming tenant:small", err)
		}
		if !strings.Contains(err.Error(), "tenant:small") || !strings.Contains(err.Error(), "$5.000000") {
			t.Fatalf("error %q does not name the budget and its limit", err)
		}
		if u, _ := impl.Budget.Usage(ctx, key); u.ReservedMicros != 0 || u.SpentMicros != 0 {
			t.Fatalf("refused reservation held money on the key: %+v", u)
		}
	})

	t.Run("release, double settle and zero budget", func(t *testing.T) {
		impl, _ := setup(t, factory)
		s := limit.BudgetScope{ID: "key:k3", LimitMicros: 2 * dollar}
		a, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, 2*dollar)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, 1); !errors.Is(err, limit.ErrBudgetExceeded) {
			t.Fatalf("budget fully held but reserve err = %v", err)
		}
		if err := impl.Budget.Release(ctx, a); err != nil {
			t.Fatal(err)
		}
		b, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, dollar)
		if err != nil {
			t.Fatalf("release did not free the hold: %v", err)
		}
		for range 2 {
			if err := impl.Budget.Settle(ctx, b, dollar); err != nil {
				t.Fatal(err)
			}
		}
		if err := impl.Budget.Release(ctx, a); err != nil { // stale: no-op
			t.Fatal(err)
		}
		if u, _ := impl.Budget.Usage(ctx, s); u.SpentMicros != dollar || u.ReservedMicros != 0 {
			t.Fatalf("usage %+v; want spent $1 once, nothing reserved", u)
		}
		zero := limit.BudgetScope{ID: "key:zero", LimitMicros: 0}
		if _, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{zero}, 1); !errors.Is(err, limit.ErrBudgetExceeded) {
			t.Fatalf("zero budget admitted a cost: %v", err)
		}
	})

	t.Run("periods roll over at UTC boundaries", func(t *testing.T) {
		tests := []struct {
			name    string
			period  limit.Period
			at      time.Time
			advance time.Duration
			reopens bool
		}{
			{"daily", limit.PeriodDaily, time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC), 2 * time.Minute, true},
			{"daily same day", limit.PeriodDaily, time.Date(2026, 3, 31, 0, 1, 0, 0, time.UTC), 23 * time.Hour, false},
			{"daily non-UTC clock", limit.PeriodDaily, time.Date(2026, 3, 31, 23, 59, 0, 0, time.FixedZone("X", 5*3600)), 2 * time.Minute, false},
			{"monthly", limit.PeriodMonthly, time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC), time.Hour, true},
			{"monthly same month", limit.PeriodMonthly, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 30 * 24 * time.Hour, false},
			{"total", limit.PeriodTotal, time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC), 400 * 24 * time.Hour, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				impl, clock := setup(t, factory)
				clock.Set(tt.at)
				s := limit.BudgetScope{ID: "key:p", LimitMicros: dollar, Period: tt.period}
				res, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, dollar)
				if err != nil {
					t.Fatal(err)
				}
				if err := impl.Budget.Settle(ctx, res, dollar); err != nil {
					t.Fatal(err)
				}
				clock.Advance(tt.advance)
				_, err = impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, dollar)
				if reopened := err == nil; reopened != tt.reopens {
					t.Fatalf("after %s: reserve err = %v, want reopened=%v", tt.advance, err, tt.reopens)
				}
			})
		}
	})

	t.Run("cost settles into the period it was reserved in", func(t *testing.T) {
		impl, clock := setup(t, factory)
		clock.Set(time.Date(2026, 5, 1, 23, 59, 59, 0, time.UTC))
		s := limit.BudgetScope{ID: "key:late", LimitMicros: dollar, Period: limit.PeriodDaily}
		res, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, dollar)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Second)
		if _, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, dollar); err != nil {
			t.Fatalf("new day still blocked by yesterday's hold: %v", err)
		}
		if err := impl.Budget.Settle(ctx, res, dollar); err != nil {
			t.Fatal(err)
		}
		if u, _ := impl.Budget.Usage(ctx, s); u.SpentMicros != 0 || u.ReservedMicros != dollar {
			t.Fatalf("usage %+v; yesterday's cost must not land on today", u)
		}
	})

	t.Run("invalid scopes", func(t *testing.T) {
		impl, _ := setup(t, factory)
		tests := []struct {
			name   string
			scopes []limit.BudgetScope
			cost   int64
		}{
			{"empty id", []limit.BudgetScope{{LimitMicros: 1}}, 1},
			{"negative limit", []limit.BudgetScope{{ID: "a", LimitMicros: -1}}, 1},
			{"bad period", []limit.BudgetScope{{ID: "a", LimitMicros: 1, Period: "weekly"}}, 1},
			{"duplicate", []limit.BudgetScope{{ID: "a", LimitMicros: 5}, {ID: "a", LimitMicros: 5}}, 1},
			{"negative cost", []limit.BudgetScope{{ID: "a", LimitMicros: 5}}, -1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := impl.Budget.Reserve(ctx, tt.scopes, tt.cost); err == nil || errors.Is(err, limit.ErrBudgetExceeded) {
					t.Fatalf("err = %v; want a validation error", err)
				}
			})
		}
	})

	t.Run("ended periods expire", func(t *testing.T) {
		impl, clock := setup(t, factory)
		if impl.Size == nil {
			t.Fatal("Impl.Size is required for the expiry test")
		}
		for i := range 500 {
			s := limit.BudgetScope{ID: fmt.Sprintf("key:%d", i), LimitMicros: dollar, Period: limit.PeriodDaily}
			res, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if err := impl.Budget.Settle(ctx, res, 10); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(48 * time.Hour)
		s := limit.BudgetScope{ID: "key:new", LimitMicros: dollar, Period: limit.PeriodDaily}
		if _, err := impl.Budget.Reserve(ctx, []limit.BudgetScope{s}, 10); err != nil {
			t.Fatal(err)
		}
		if n := impl.Size(); n > 2 {
			t.Fatalf("%d entries remain after their periods ended, want ≤ 2", n)
		}
	})
}
