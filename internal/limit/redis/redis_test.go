package redis_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/limittest"
	"github.com/bulwarkhq/bulwark/internal/limit/redis"
	"github.com/bulwarkhq/bulwark/internal/redistest"
)

var shared redistest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// live counts the keys under p that are live at now: a hash whose logical
// expiry x is absent, 0 (a total budget) or after now, or a sorted set whose
// highest score (a lease or hold expiry) is after now. Redis's own TTLs run
// on the real clock; the suite drives a manual one.
func live(t *testing.T, c *goredis.Client, p string, now time.Time) int {
	t.Helper()
	ctx := context.Background()
	us := now.UnixNano() / 1000
	n := 0
	iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		switch c.Type(ctx, k).Val() {
		case "hash":
			x, err := c.HGet(ctx, k, "x").Int64()
			if err != nil || x == 0 || x > us {
				n++
			}
		case "zset":
			top, err := c.ZRevRangeWithScores(ctx, k, 0, 0).Result()
			if err != nil || len(top) == 0 || int64(top[0].Score) > us {
				n++
			}
		default:
			n++
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func newImpl(t *testing.T, clock limit.Clock) limittest.Impl {
	c := shared.Client(t)
	opts := redis.Options{Prefix: redistest.Prefix(), Clock: clock}
	conc := redis.NewConcurrency(c, opts)
	t.Cleanup(conc.Close)
	return limittest.Impl{
		Rate: redis.NewRateLimiter(c, opts), Concurrency: conc, Budget: redis.NewBudget(c, opts),
		Size: func() int { return live(t, c, opts.Prefix, clock.Now()) },
	}
}

func TestConformance(t *testing.T) { limittest.Run(t, newImpl) }

func TestKeysCarryPrefixAndTTL(t *testing.T) {
	ctx := context.Background()
	c := shared.Client(t)
	opts := redis.Options{Prefix: redistest.Prefix()}
	if _, err := redis.NewRateLimiter(c, opts).Take(ctx, 1, limit.Limit{Key: "rpm:key:a", Rate: limit.PerMinute(10)}); err != nil {
		t.Fatal(err)
	}
	res, err := redis.NewBudget(c, opts).Reserve(ctx, []limit.BudgetScope{{ID: "key:a", LimitMicros: 100, Period: limit.PeriodDaily}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, k := range keys {
		if len(k) < len(opts.Prefix) || k[:len(opts.Prefix)] != opts.Prefix {
			continue
		}
		found++
		ttl := c.PTTL(ctx, k).Val()
		if ttl <= 0 || ttl > 25*time.Hour+2*time.Minute {
			t.Errorf("key %s has TTL %v; want a bounded expiry", k, ttl)
		}
	}
	if found != 3 { // bucket, budget window, its hold set
		t.Fatalf("found %d keys under %s, want 3", found, opts.Prefix)
	}
	_ = res
}

func FuzzRateMatchesMemoryArithmetic(f *testing.F) {
	f.Add(int64(10), int64(1), int64(3))
	f.Add(int64(7), int64(2), int64(9))
	f.Add(int64(38_000_000), int64(1_000_000), int64(50))
	f.Fuzz(func(t *testing.T, n, cost, takes int64) {
		if n <= 0 || n > 38_000_000 || cost <= 0 || cost > n || takes <= 0 || takes > 60 {
			return
		}
		c := shared.Client(t)
		clk := limittest.NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
		l := redis.NewRateLimiter(c, redis.Options{Prefix: redistest.Prefix(), Clock: clk.Func()})
		r := limit.PerMinute(n)
		var b limit.Bucket
		for i := range takes {
			now := clk.Now().UnixNano()
			want := b.Drain(r, now)
			nb, wd, _ := want.Admit(r, cost)
			b = nb
			got, err := l.Take(context.Background(), cost, limit.Limit{Key: "k", Rate: r})
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != wd.Allowed || got.Remaining != wd.Remaining {
				t.Fatalf("take %d of %d per minute (cost %d): redis %+v, exact %+v", i, n, cost, got, wd)
			}
			clk.Advance(time.Duration(i) * time.Second)
		}
	})
}

// Scripts run with EVALSHA; a server that lost its script cache (restart,
// SCRIPT FLUSH, failover) gets EVAL once and answers as before.
func TestScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	c := shared.Client(t)
	l := redis.NewRateLimiter(c, redis.Options{Prefix: redistest.Prefix()})
	lm := limit.Limit{Key: "rpm:key:f", Rate: limit.PerMinute(2)}
	for i, want := range []bool{true, true, false} {
		if i == 1 {
			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if d, err := l.Take(ctx, 1, lm); err != nil || d.Allowed != want {
			t.Fatalf("take %d = %+v, %v; want allowed=%v", i, d, err, want)
		}
	}
}

// A Redis that answers with an error (here a key of the wrong type, as
// another program sharing the prefix could leave) refuses: every operation
// fails closed with an error, never an admission.
func TestRedisErrorsFailClosed(t *testing.T) {
	ctx := context.Background()
	c := shared.Client(t)
	opts := redis.Options{Prefix: redistest.Prefix()}
	for _, k := range []string{"rate:rpm:key:x", "par:par:key:x", "budget:0:key:x"} {
		if err := c.Set(ctx, opts.Prefix+k, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	conc := redis.NewConcurrency(c, opts)
	defer conc.Close()
	tests := []struct {
		name string
		try  func() (admitted bool, err error)
	}{
		{"rate", func() (bool, error) {
			d, err := redis.NewRateLimiter(c, opts).Take(ctx, 1, limit.Limit{Key: "rpm:key:x", Rate: limit.PerMinute(5)})
			return d.Allowed, err
		}},
		{"concurrency", func() (bool, error) {
			rel, err := conc.Acquire(ctx, "par:key:x", 5)
			return rel != nil, err
		}},
		{"budget", func() (bool, error) {
			res, err := redis.NewBudget(c, opts).Reserve(ctx, []limit.BudgetScope{{ID: "key:x", LimitMicros: 100}}, 1)
			return res.Token != "", err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admitted, err := tt.try()
			if err == nil || admitted || errors.Is(err, limit.ErrBudgetExceeded) {
				t.Fatalf("admitted %v, err %v; want a plain error", admitted, err)
			}
		})
	}
}
