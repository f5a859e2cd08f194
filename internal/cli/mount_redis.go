package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/idempotency"
	idemredis "github.com/bulwarkhq/bulwark/internal/idempotency/redis"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	limitredis "github.com/bulwarkhq/bulwark/internal/limit/redis"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/router/redisbreaker"
)

// sharedState is where limits, breakers and idempotency keys live: this
// process's memory, or a Redis every replica shares (limits.backend redis).
type sharedState struct {
	gate     *limit.Gate
	breakers router.BreakerStore
	idem     idempotency.Store
	// close releases the backends' connections and background loops at
	// shutdown (nil for memory).
	close func()
}

// newRedisState connects the Redis backends named by cfg. The URL comes
// from the environment only (cfg.Redis.URLVariable); errors name the
// variable, never the URL. An unreachable Redis does not stop the start:
// requests are refused (503) until it answers, as for an outage later.
func newRedisState(cfg *config.Config, getenv func(string) string, log *slog.Logger) (sharedState, error) {
	opts, err := cfg.Redis.ClientOptions(getenv, cfg.Production())
	if err != nil {
		return sharedState{}, fmt.Errorf("limits: %w", err)
	}
	client := goredis.NewClient(opts)
	prefix := cfg.Redis.KeyPrefix()
	breakers, err := redisbreaker.New(client, cfg.Routing.Breaker, redisbreaker.Options{Prefix: prefix})
	if err != nil {
		_ = client.Close()
		return sharedState{}, fmt.Errorf("routing: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil && log != nil {
		// go-redis errors carry the address, never the password.
		log.Warn("redis unreachable: limited requests are refused until it answers", "err", err)
	}
	lo := limitredis.Options{Prefix: prefix}
	conc := limitredis.NewConcurrency(client, lo)
	return sharedState{
		gate: &limit.Gate{
			Rate: limitredis.NewRateLimiter(client, lo), Concurrency: conc,
			Budget: limitredis.NewBudget(client, lo),
		},
		close:    func() { conc.Close(); _ = client.Close() },
		breakers: breakers,
		idem:     idemredis.New(client, idemredis.Options{Prefix: prefix, Options: cfg.Idempotency.StoreOptions()}),
	}, nil
}

// newMemoryState builds the in-process backends.
func newMemoryState(cfg *config.Config) (sharedState, error) {
	breakers, err := router.NewMemoryBreaker(cfg.Routing.Breaker, nil, 0)
	if err != nil {
		return sharedState{}, fmt.Errorf("routing: %w", err)
	}
	opts := memory.Options{MaxKeys: cfg.Limits.MaxKeys}
	return sharedState{
		gate:     &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)},
		breakers: breakers,
		idem:     idempotency.NewMemory(cfg.Idempotency.StoreOptions()),
	}, nil
}
