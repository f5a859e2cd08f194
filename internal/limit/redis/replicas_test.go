package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/limittest"
	"github.com/bulwarkhq/bulwark/internal/limit/redis"
	"github.com/bulwarkhq/bulwark/internal/redistest"
)

// Two go-redis clients are two replicas: separate connection pools, one
// shared Redis. These tests are the seeds' failures made impossible: a
// GET-then-SET counter loses increments under them; these scripts cannot.
func TestReplicasShareLimits(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		n     int64 // per-minute limit
		cost  int64
		tries int // per replica
	}{
		{"requests per minute", 50, 1, 250},
		{"tokens per minute, large limit", 30_000_000, 1_000_000, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One frozen clock for both replicas: nothing refills during
			// the burst, so the count must be exact.
			clk := limittest.NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
			opts := redis.Options{Prefix: redistest.Prefix(), Clock: clk.Func()}
			replicas := []*redis.RateLimiter{
				redis.NewRateLimiter(shared.Client(t), opts),
				redis.NewRateLimiter(shared.Client(t), opts),
			}
			lm := limit.Limit{Key: "rpm:key:shared", Rate: limit.PerMinute(tt.n)}
			var ok atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, r := range replicas {
				for range tt.tries {
					wg.Go(func() {
						<-start
						d, err := r.Take(ctx, tt.cost, lm)
						if err != nil {
							t.Error(err)
						}
						if d.Allowed {
							ok.Add(1)
						}
					})
				}
			}
			close(start)
			wg.Wait()
			if want := tt.n / tt.cost; ok.Load() != want {
				t.Fatalf("two replicas admitted %d, want %d", ok.Load(), want)
			}
		})
	}
}

func TestReplicasNeverOverspend(t *testing.T) {
	ctx := context.Background()
	opts := redis.Options{Prefix: redistest.Prefix()}
	replicas := []*redis.Budget{redis.NewBudget(shared.Client(t), opts), redis.NewBudget(shared.Client(t), opts)}
	scope := limit.BudgetScope{ID: "key:k", LimitMicros: 50_000_000, Period: limit.PeriodMonthly}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			r := replicas[i%2]
			res, err := r.Reserve(ctx, []limit.BudgetScope{scope, {ID: "tenant:t", LimitMicros: 1 << 50}}, 1_000_000)
			if errors.Is(err, limit.ErrBudgetExceeded) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			ok.Add(1)
			if err := replicas[(i+1)%2].Settle(ctx, res, 1_000_000); err != nil { // settled by the other replica
				t.Error(err)
			}
		})
	}
	wg.Wait()
	u, err := replicas[0].Usage(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 50 || u.SpentMicros != 50_000_000 || u.ReservedMicros != 0 {
		t.Fatalf("%d reservations, usage %+v; want exactly 50 and $50 spent", ok.Load(), u)
	}
}

func TestReplicasShareConcurrency(t *testing.T) {
	ctx := context.Background()
	opts := redis.Options{Prefix: redistest.Prefix()}
	replicas := []*redis.Concurrency{redis.NewConcurrency(shared.Client(t), opts), redis.NewConcurrency(shared.Client(t), opts)}
	var inFlight, peak, served atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			for range 10 {
				rel, err := replicas[i%2].Acquire(ctx, "par:tenant:t", 4)
				if err != nil {
					continue
				}
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(time.Millisecond)
				inFlight.Add(-1)
				served.Add(1)
				rel()
			}
		})
	}
	wg.Wait()
	for _, r := range replicas {
		r.Close()
	}
	if peak.Load() > 4 || served.Load() < 4 {
		t.Fatalf("peak %d in flight across two replicas (max 4), %d served", peak.Load(), served.Load())
	}
}

// A replica that dies holding slots (no release, no renewal) frees them
// within one lease; a live replica's renewed slots survive beyond it.
func TestConcurrencySlotsDoNotLeak(t *testing.T) {
	ctx := context.Background()
	opts := redis.Options{Prefix: redistest.Prefix(), Lease: 300 * time.Millisecond}
	alive := redis.NewConcurrency(shared.Client(t), opts)
	defer alive.Close()
	dead := redis.NewConcurrency(shared.Client(t), opts)
	if _, err := alive.Acquire(ctx, "par:key:k", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Acquire(ctx, "par:key:k", 2); err != nil {
		t.Fatal(err)
	}
	dead.Close() // the replica dies: its slot is never released nor renewed
	if _, err := alive.Acquire(ctx, "par:key:k", 2); !errors.Is(err, limit.ErrTooManyInFlight) {
		t.Fatalf("both slots held: err = %v, want ErrTooManyInFlight", err)
	}
	time.Sleep(3 * opts.Lease)
	rel, err := alive.Acquire(ctx, "par:key:k", 2)
	if err != nil {
		t.Fatalf("dead replica's slot not freed after its lease: %v", err)
	}
	defer rel()
	if _, err := alive.Acquire(ctx, "par:key:k", 2); !errors.Is(err, limit.ErrTooManyInFlight) {
		t.Fatalf("renewed slot lost after 3 leases: err = %v", err)
	}
}

// Stopping Redis makes every admission fail closed (an error, which the
// gateway answers with 503, never an admission); it recovers when Redis is
// back on the same port.
func TestRedisDownFailsClosed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer c.Close()
	opts := redis.Options{Prefix: "down:"}
	conc := redis.NewConcurrency(c, opts)
	defer conc.Close()
	g := &limit.Gate{Rate: redis.NewRateLimiter(c, opts), Concurrency: conc, Budget: redis.NewBudget(c, opts)}
	subjects := []limit.Subject{{ID: "key:k", RPM: 1000, TPM: 1_000_000, MaxParallel: 10, Budgeted: true, BudgetMicros: 1 << 40}}
	est := limit.Estimate{PromptTokens: 10, MaxOutputTokens: 10, Price: &limit.Price{InputPerMTok: 1, OutputPerMTok: 1}}
	admit := func() error {
		a, err := g.Admit(ctx, subjects, est)
		if err == nil {
			return a.Finish(ctx, limit.Usage{InputTokens: 1, OutputTokens: 1}, true)
		}
		return err
	}
	if err := admit(); err != nil {
		t.Fatalf("redis up: %v", err)
	}
	srv.Stop()
	tests := []struct {
		name string
		try  func() error
	}{
		{"gate", admit},
		{"rate", func() error {
			d, err := g.Rate.Take(ctx, 1, limit.Limit{Key: "k", Rate: limit.PerMinute(10)})
			if d.Allowed {
				t.Error("rate limiter admitted with redis down")
			}
			return err
		}},
		{"concurrency", func() error { _, err := conc.Acquire(ctx, "k", 5); return err }},
		{"budget", func() error {
			_, err := g.Budget.Reserve(ctx, []limit.BudgetScope{{ID: "k", LimitMicros: 100}}, 1)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.try()
			var denied *limit.Denied
			if err == nil || errors.As(err, &denied) {
				t.Fatalf("redis down: err = %v; want a plain error (503), never an admission", err)
			}
		})
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := admit(); err != nil {
		t.Fatalf("redis back: %v", err)
	}
}

// A replica that dies between Reserve and Settle leaves a hold; after
// HoldTTL the next reservation on the scope charges it at its worst case
// (never releases it), so the crash can only make the caller under-spend.
func TestAbandonedHoldIsChargedAtWorstCase(t *testing.T) {
	ctx := context.Background()
	clk := limittest.NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
	opts := redis.Options{Prefix: redistest.Prefix(), Clock: clk.Func(), HoldTTL: time.Hour}
	dead := redis.NewBudget(shared.Client(t), opts)
	alive := redis.NewBudget(shared.Client(t), opts)
	s := limit.BudgetScope{ID: "key:crash", LimitMicros: 3_000_000}
	if _, err := dead.Reserve(ctx, []limit.BudgetScope{s}, 2_000_000); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour + time.Second)
	if _, err := alive.Reserve(ctx, []limit.BudgetScope{s}, 1_000_000); err != nil {
		t.Fatal(err)
	}
	u, err := alive.Usage(ctx, s)
	if err != nil || u.SpentMicros != 2_000_000 || u.ReservedMicros != 1_000_000 {
		t.Fatalf("usage %+v, %v; want the abandoned hold spent at $2 and the new one held", u, err)
	}
	if _, err := alive.Reserve(ctx, []limit.BudgetScope{s}, 1); !errors.Is(err, limit.ErrBudgetExceeded) {
		t.Fatalf("budget exhausted, reserve err = %v", err)
	}
}
