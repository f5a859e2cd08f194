package limittest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

func runRate(t *testing.T, factory Factory) {
	ctx := context.Background()

	t.Run("burst of 10N admits exactly N", func(t *testing.T) {
		for _, n := range []int64{1, 7, 50, 120} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				impl, clock := setup(t, factory)
				lm := limit.Limit{Key: "rpm:key:a", Rate: limit.PerMinute(n)}
				var ok atomic.Int64
				parallel(int(10*n), func(int) {
					d, err := impl.Rate.Take(ctx, 1, lm)
					if err != nil {
						t.Error(err)
					}
					if d.Allowed {
						ok.Add(1)
					}
				})
				if ok.Load() != n {
					t.Fatalf("admitted %d of %d, want exactly %d", ok.Load(), 10*n, n)
				}
				// One emission interval later exactly one more fits.
				clock.Advance((time.Minute + time.Duration(n) - 1) / time.Duration(n))
				got := 0
				for range 3 {
					if d, _ := impl.Rate.Take(ctx, 1, lm); d.Allowed {
						got++
					}
				}
				if got != 1 {
					t.Fatalf("after one interval admitted %d, want 1", got)
				}
			})
		}
	})

	t.Run("decision fields", func(t *testing.T) {
		impl, _ := setup(t, factory)
		lm := limit.Limit{Key: "rpm:key:d", Rate: limit.PerMinute(10)}
		d, err := impl.Rate.Take(ctx, 1, lm)
		if err != nil || !d.Allowed || d.Limit != 10 || d.Remaining != 9 || d.Reset != 6*time.Second {
			t.Fatalf("first take = %+v, %v; want allowed, limit 10, remaining 9, reset 6s", d, err)
		}
		if d, _ = impl.Rate.Take(ctx, 9, lm); !d.Allowed || d.Remaining != 0 || d.Reset != time.Minute {
			t.Fatalf("draining take = %+v; want allowed, remaining 0, reset 1m", d)
		}
		d, _ = impl.Rate.Take(ctx, 2, lm)
		if d.Allowed || d.RetryAfter != 12*time.Second {
			t.Fatalf("refused take = %+v; want refused with retry-after 12s", d)
		}
	})

	t.Run("multiple limits are all or nothing", func(t *testing.T) {
		impl, _ := setup(t, factory)
		key := limit.Limit{Key: "rpm:key:k", Rate: limit.PerMinute(5)}
		tenant := limit.Limit{Key: "rpm:tenant:t", Rate: limit.PerMinute(3)}
		if d, _ := impl.Rate.Take(ctx, 3, key, tenant); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("take 3 = %+v; want allowed with the tenant's 0 remaining", d)
		}
		if d, _ := impl.Rate.Take(ctx, 1, key, tenant); d.Allowed || d.Key != "rpm:tenant:t" {
			t.Fatalf("tenant limit exceeded: decision %+v, want refused naming rpm:tenant:t", d)
		}
		// The refused take must not have charged the key.
		if d, _ := impl.Rate.Take(ctx, 2, key); !d.Allowed {
			t.Fatal("refused multi-key take charged the key")
		}
		if d, _ := impl.Rate.Take(ctx, 1, key); d.Allowed {
			t.Fatal("key admitted beyond its limit")
		}
	})

	t.Run("reserve and reconcile tokens", func(t *testing.T) {
		impl, _ := setup(t, factory)
		tpm := limit.Limit{Key: "tpm:key:r", Rate: limit.PerMinute(1000)}
		res, d, err := limit.ReserveTokens(ctx, impl.Rate, 800, tpm)
		if err != nil || !d.Allowed || d.Remaining != 200 {
			t.Fatalf("reserve 800 = %+v, %v", d, err)
		}
		if err := res.Reconcile(ctx, 200); err != nil { // refund 600
			t.Fatal(err)
		}
		if d, _ := impl.Rate.Take(ctx, 800, tpm); !d.Allowed {
			t.Fatalf("refund not applied: %+v", d)
		}
		res, d, _ = limit.ReserveTokens(ctx, impl.Rate, 1, tpm)
		if d.Allowed {
			t.Fatalf("limit exhausted but reserve allowed: %+v", d)
		}
		if err := res.Reconcile(ctx, 500); err != nil { // empty reservation: no-op
			t.Fatal(err)
		}
		// Charging beyond the estimate delays the next caller.
		impl2, _ := setup(t, factory)
		res, _, _ = limit.ReserveTokens(ctx, impl2.Rate, 100, tpm)
		if err := res.Reconcile(ctx, 1100); err != nil {
			t.Fatal(err)
		}
		if d, _ := impl2.Rate.Take(ctx, 1, tpm); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("over-usage not charged: %+v", d)
		}
	})

	t.Run("parallel token reservations are exact", func(t *testing.T) {
		impl, _ := setup(t, factory)
		tpm := limit.Limit{Key: "tpm:tenant:p", Rate: limit.PerMinute(1000)}
		var ok atomic.Int64
		parallel(200, func(int) {
			if _, d, err := limit.ReserveTokens(ctx, impl.Rate, 10, tpm); err == nil && d.Allowed {
				ok.Add(1)
			}
		})
		if ok.Load() != 100 {
			t.Fatalf("admitted %d reservations of 10 under 1000 TPM, want 100", ok.Load())
		}
	})

	t.Run("errors", func(t *testing.T) {
		impl, _ := setup(t, factory)
		tests := []struct {
			name string
			cost int64
			rate limit.Rate
			want error
		}{
			{"cost above limit", 11, limit.PerMinute(10), limit.ErrCostTooLarge},
			{"zero limit", 1, limit.PerMinute(0), limit.ErrInvalidRate},
			{"zero period", 1, limit.Rate{Limit: 5}, limit.ErrInvalidRate},
			{"overflowing rate", 1, limit.PerMinute(1 << 40), limit.ErrInvalidRate},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d, err := impl.Rate.Take(ctx, tt.cost, limit.Limit{Key: "e", Rate: tt.rate})
				if !errors.Is(err, tt.want) || d.Allowed {
					t.Fatalf("Take = %+v, %v; want refused with %v", d, err, tt.want)
				}
			})
		}
	})

	t.Run("idle keys expire", func(t *testing.T) {
		impl, clock := setup(t, factory)
		if impl.Size == nil {
			t.Fatal("Impl.Size is required for the expiry test")
		}
		for i := range 1000 {
			lm := limit.Limit{Key: fmt.Sprintf("rpm:key:%d", i), Rate: limit.PerMinute(10)}
			if _, err := impl.Rate.Take(ctx, 1, lm); err != nil {
				t.Fatal(err)
			}
		}
		if n := impl.Size(); n < 1000 {
			t.Fatalf("tracking %d entries, want ≥ 1000 live ones", n)
		}
		clock.Advance(2 * time.Minute)
		if _, err := impl.Rate.Take(ctx, 1, limit.Limit{Key: "rpm:key:new", Rate: limit.PerMinute(10)}); err != nil {
			t.Fatal(err)
		}
		if n := impl.Size(); n > 1 {
			t.Fatalf("after idling, %d entries remain, want ≤ 1", n)
		}
	})
}
