// Package limittest is the conformance suite every implementation of the
// limit interfaces must pass (memory now, Redis later): exact admission under
// heavy concurrency, all-or-nothing multi-key charges, token reconciliation,
// budgets that parallel requests cannot overspend, UTC period roll-over,
// expiry of idle state, and the Gate's separate buckets for calls and token
// counts on the implementation's stores.
package limittest

import (
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Impl is one implementation under test. Size, when set, reports how many
// entries the implementation tracks (keys, scopes, holds); the expiry tests
// need it.
type Impl struct {
	Rate        limit.RateLimiter
	Concurrency limit.ConcurrencyLimiter
	Budget      interface {
		limit.Budget
		limit.BudgetReader
	}
	Size func() int
}

// Factory returns a fresh, empty implementation that reads time from clock.
// Implementations must sweep idle state at least once per simulated minute.
type Factory func(t *testing.T, clock limit.Clock) Impl

// Clock is a manual clock safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Func returns the clock as a limit.Clock.
func (c *Clock) Func() limit.Clock { return c.Now }

// Run runs the whole suite against factory.
func Run(t *testing.T, factory Factory) {
	t.Run("rate", func(t *testing.T) { runRate(t, factory) })
	t.Run("concurrency", func(t *testing.T) { runConcurrency(t, factory) })
	t.Run("budget", func(t *testing.T) { runBudget(t, factory) })
	t.Run("gate", func(t *testing.T) { runGate(t, factory) })
}

// start is a fixed instant away from any period boundary.
var start = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, factory Factory) (Impl, *Clock) {
	t.Helper()
	c := NewClock(start)
	return factory(t, c.Func()), c
}

// parallel runs f(i) for i in [0,n) in n goroutines released together, and
// waits for all of them.
func parallel(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			f(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}
