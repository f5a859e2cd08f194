// Package breakertest is the conformance suite for router.BreakerStore
// implementations (memory now, Redis later): transitions closed → open →
// half-open → closed/open driven by an injected clock, limited probes under
// concurrency, and 429 cooldowns.
package breakertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/router"
)

// Factory returns a fresh store with cfg that reads time from now.
type Factory func(t *testing.T, cfg router.BreakerConfig, now func() time.Time) router.BreakerStore

type clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var base = router.BreakerConfig{
	ConsecutiveFailures: 3, Cooldown: 10 * time.Second, HalfOpenProbes: 1,
	RateLimitCooldown: 4 * time.Second, Window: 10 * time.Second,
}

// Run runs the suite.
func Run(t *testing.T, factory Factory) {
	ctx := context.Background()
	setup := func(t *testing.T, cfg router.BreakerConfig) (router.BreakerStore, *clock) {
		c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		return factory(t, cfg, c.Now), c
	}
	allow := func(t *testing.T, s router.BreakerStore, want bool) {
		t.Helper()
		if got, err := s.Allow(ctx, "d"); err != nil || got != want {
			t.Fatalf("Allow = %v, %v; want %v", got, err, want)
		}
	}
	state := func(t *testing.T, s router.BreakerStore, want router.State) {
		t.Helper()
		if st, err := s.Status(ctx, "d"); err != nil || st.State != want {
			t.Fatalf("Status = %+v, %v; want %s", st, err, want)
		}
	}
	record := func(s router.BreakerStore, o router.Outcome, n int) {
		for range n {
			_ = s.Record(ctx, "d", o, 0)
		}
	}

	t.Run("consecutive failures open; success resets the count", func(t *testing.T) {
		s, _ := setup(t, base)
		state(t, s, router.Closed)
		record(s, router.Failure, 2)
		record(s, router.Success, 1)
		record(s, router.Failure, 2)
		state(t, s, router.Closed)
		allow(t, s, true)
		record(s, router.Failure, 1)
		state(t, s, router.Open)
		allow(t, s, false)
	})

	t.Run("error rate over the window opens after the minimum count", func(t *testing.T) {
		cfg := base
		cfg.ConsecutiveFailures, cfg.ErrorRate, cfg.MinRequests = 0, 0.5, 10
		s, c := setup(t, cfg)
		for range 4 { // 8 requests, 4 failures: below the minimum
			record(s, router.Failure, 1)
			record(s, router.Success, 1)
		}
		state(t, s, router.Closed)
		c.Advance(11 * time.Second) // those fall out of the window
		record(s, router.Failure, 4)
		record(s, router.Success, 5)
		state(t, s, router.Closed) // 4/9, under the minimum
		record(s, router.Failure, 1)
		state(t, s, router.Open) // 5/10 = 50%
	})

	t.Run("half-open admits limited probes and closes on success", func(t *testing.T) {
		cfg := base
		cfg.HalfOpenProbes = 2
		s, c := setup(t, cfg)
		record(s, router.Failure, 3)
		c.Advance(9 * time.Second)
		allow(t, s, false)
		c.Advance(time.Second)
		state(t, s, router.HalfOpen)
		var granted atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if ok, _ := s.Allow(ctx, "d"); ok {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		if granted.Load() != 2 {
			t.Fatalf("%d probes admitted, want 2", granted.Load())
		}
		record(s, router.Success, 1)
		state(t, s, router.Closed)
		for range 5 {
			allow(t, s, true)
		}
	})

	t.Run("probe failure reopens for another cooldown", func(t *testing.T) {
		s, c := setup(t, base)
		record(s, router.Failure, 3)
		c.Advance(10 * time.Second)
		allow(t, s, true)
		record(s, router.Failure, 1)
		state(t, s, router.Open)
		c.Advance(9 * time.Second)
		allow(t, s, false)
		c.Advance(time.Second)
		allow(t, s, true)
	})

	t.Run("a probe that never reports is re-armed", func(t *testing.T) {
		s, c := setup(t, base)
		record(s, router.Failure, 3)
		c.Advance(10 * time.Second)
		allow(t, s, true)
		allow(t, s, false)
		c.Advance(10 * time.Second)
		allow(t, s, true)
	})

	t.Run("429 cools down without counting as a failure", func(t *testing.T) {
		s, c := setup(t, base)
		if err := s.Record(ctx, "d", router.RateLimited, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		allow(t, s, false)
		st, _ := s.Status(ctx, "d")
		if st.State != router.Closed || st.Available(c.Now()) || st.ConsecutiveFailures != 0 {
			t.Fatalf("status %+v: want closed, unavailable, no failures", st)
		}
		c.Advance(2 * time.Second)
		allow(t, s, true)
		record(s, router.RateLimited, 1) // no retry-after: the default cooldown
		c.Advance(3 * time.Second)
		allow(t, s, false)
		c.Advance(time.Second)
		allow(t, s, true)
	})

	t.Run("deployments are independent", func(t *testing.T) {
		s, _ := setup(t, base)
		record(s, router.Failure, 3)
		if ok, _ := s.Allow(ctx, "other"); !ok {
			t.Fatal("another deployment was refused")
		}
	})
}
