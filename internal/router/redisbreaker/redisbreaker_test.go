package redisbreaker_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/redistest"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/router/breakertest"
	"github.com/bulwarkhq/bulwark/internal/router/redisbreaker"
)

var shared redistest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

func TestConformance(t *testing.T) {
	breakertest.Run(t, func(t *testing.T, cfg router.BreakerConfig, now func() time.Time) router.BreakerStore {
		s, err := redisbreaker.New(shared.Client(t), cfg, redisbreaker.Options{Prefix: redistest.Prefix(), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Replicas share the breaker: failures seen by one open it for the other,
// and the half-open probe limit holds across both.
func TestReplicasShareState(t *testing.T) {
	ctx := context.Background()
	cfg := router.BreakerConfig{ConsecutiveFailures: 4, Cooldown: 200 * time.Millisecond, HalfOpenProbes: 1, RateLimitCooldown: time.Second}
	opts := redisbreaker.Options{Prefix: redistest.Prefix()} // the Redis server's clock
	a, err := redisbreaker.New(shared.Client(t), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisbreaker.New(shared.Client(t), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := []*redisbreaker.Store{a, b}[i%2].Record(ctx, "d", router.Failure, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*redisbreaker.Store{a, b} {
		if ok, err := s.Allow(ctx, "d"); err != nil || ok {
			t.Fatalf("Allow = %v, %v after 4 failures split over two replicas; want refused", ok, err)
		}
	}
	time.Sleep(cfg.Cooldown + 50*time.Millisecond)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if ok, _ := []*redisbreaker.Store{a, b}[i%2].Allow(ctx, "d"); ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 1 {
		t.Fatalf("%d half-open probes admitted across replicas, want 1", granted.Load())
	}
	if err := a.Record(ctx, "d", router.Success, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(ctx, "d"); err != nil || st.State != router.Closed {
		t.Fatalf("other replica sees %+v, %v; want closed", st, err)
	}
}

func TestInvalidConfig(t *testing.T) {
	if _, err := redisbreaker.New(shared.Client(t), router.BreakerConfig{}, redisbreaker.Options{}); err == nil {
		t.Fatal("a breaker without cooldown and probes was accepted")
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	srv := redistest.StartServer(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer c.Close()
	s, err := redisbreaker.New(c, router.DefaultBreakerConfig, redisbreaker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if ok, err := s.Allow(context.Background(), "d"); err == nil || ok {
		t.Fatalf("Allow with redis down = %v, %v; want an error", ok, err)
	}
}
