package limittest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

func runConcurrency(t *testing.T, factory Factory) {
	ctx := context.Background()

	t.Run("simultaneous acquires admit exactly max", func(t *testing.T) {
		impl, _ := setup(t, factory)
		var mu sync.Mutex
		var releases []func()
		parallel(150, func(int) {
			rel, err := impl.Concurrency.Acquire(ctx, "par:key:a", 5)
			switch {
			case err == nil:
				mu.Lock()
				releases = append(releases, rel)
				mu.Unlock()
			case !errors.Is(err, limit.ErrTooManyInFlight):
				t.Error(err)
			}
		})
		if len(releases) != 5 {
			t.Fatalf("acquired %d slots, want exactly 5", len(releases))
		}
		for _, rel := range releases {
			rel()
			rel() // a second release must not free another slot
		}
		var again []func()
		for range 6 {
			if rel, err := impl.Concurrency.Acquire(ctx, "par:key:a", 5); err == nil {
				again = append(again, rel)
			}
		}
		if len(again) != 5 {
			t.Fatalf("after release acquired %d, want 5 (double release must be a no-op)", len(again))
		}
		for _, rel := range again {
			rel()
		}
		if impl.Size != nil && impl.Size() != 0 {
			t.Fatalf("%d entries tracked with nothing in flight, want 0", impl.Size())
		}
	})

	t.Run("max parallel never exceeded under churn", func(t *testing.T) {
		impl, _ := setup(t, factory)
		const max = 3
		var inFlight, peak, served atomic.Int64
		parallel(100, func(int) {
			for range 20 {
				rel, err := impl.Concurrency.Acquire(ctx, "par:tenant:t", max)
				if err != nil {
					continue
				}
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(50 * time.Microsecond)
				inFlight.Add(-1)
				served.Add(1)
				rel()
			}
		})
		if peak.Load() > max || served.Load() == 0 {
			t.Fatalf("peak in flight %d (max %d), served %d", peak.Load(), max, served.Load())
		}
	})

	t.Run("invalid max", func(t *testing.T) {
		impl, _ := setup(t, factory)
		if _, err := impl.Concurrency.Acquire(ctx, "par:x", 0); err == nil {
			t.Fatal("max 0 accepted")
		}
	})
}
