// Package redisbreaker keeps the router's circuit breakers in Redis, so
// every replica sees the same closed, open and half-open states: a
// deployment that one replica saw fail is rested by all, and the half-open
// probe limit holds across replicas. Each operation is one Lua script that
// runs the same state machine as router.MemoryBreaker, atomically.
//
// State per deployment is one hash (state, consecutive failures, opening
// time, probes, 429 cooldown and ten error-rate buckets) with a TTL of ten
// windows and cooldowns, after which a quiet breaker equals a new one.
// Times are Unix microseconds (Lua numbers are doubles, exact to 2^53).
package redisbreaker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/router"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "bulwark:"

// Options configure a Store.
type Options struct {
	// Prefix starts every key (default "bulwark:"); the store adds
	// "breaker:" and the deployment name.
	Prefix string
	// Now is the clock; nil means the Redis server's clock, so replicas
	// with skewed clocks agree on cooldowns.
	Now func() time.Time
}

// Store is a router.BreakerStore in Redis. It is safe for concurrent use by
// any number of goroutines and replicas.
type Store struct {
	c    goredis.Scripter
	cfg  router.BreakerConfig
	opts Options
	args []any // the configuration as script arguments, built once
}

var _ router.BreakerStore = (*Store)(nil)

// New validates cfg and returns a store on c.
func New(c goredis.Scripter, cfg router.BreakerConfig, opts Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis breaker: %w", err)
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	ttl := 10 * (cfg.Window + cfg.Cooldown)
	return &Store{c: c, cfg: cfg, opts: opts, args: []any{
		cfg.ConsecutiveFailures, strconv.FormatFloat(cfg.ErrorRate, 'g', -1, 64),
		cfg.Window.Microseconds(), cfg.MinRequests, cfg.Cooldown.Microseconds(),
		cfg.HalfOpenProbes, cfg.RateLimitCooldown.Microseconds(), ttl.Milliseconds(),
	}}, nil
}

func (s *Store) run(ctx context.Context, name, op string, outcome router.Outcome, retry time.Duration) ([]any, error) {
	now := int64(0)
	if s.opts.Now != nil {
		now = s.opts.Now().UnixMicro()
	}
	args := make([]any, 0, 3+len(s.args)+2)
	args = append(args, now, op)
	args = append(args, s.args...)
	args = append(args, int(outcome), retry.Microseconds())
	out, err := breakerScript.Run(ctx, s.c, []string{s.opts.Prefix + "breaker:" + name}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis breaker %s %q: %w", op, name, err)
	}
	return out, nil
}

// Allow implements router.BreakerStore.
func (s *Store) Allow(ctx context.Context, name string) (bool, error) {
	out, err := s.run(ctx, name, "allow", 0, 0)
	if err != nil {
		return false, err
	}
	return len(out) == 1 && out[0] == int64(1), nil
}

// Record implements router.BreakerStore.
func (s *Store) Record(ctx context.Context, name string, o router.Outcome, retryAfter time.Duration) error {
	_, err := s.run(ctx, name, "record", o, retryAfter)
	return err
}

// Status implements router.BreakerStore.
func (s *Store) Status(ctx context.Context, name string) (router.Status, error) {
	out, err := s.run(ctx, name, "status", 0, 0)
	if err != nil {
		return router.Status{}, err
	}
	if len(out) != 6 {
		return router.Status{}, fmt.Errorf("redis breaker status %q: script returned %d values", name, len(out))
	}
	st, _ := out[0].(string)
	n := make([]int64, 5)
	for i := range n {
		n[i], _ = out[i+1].(int64)
	}
	return router.Status{
		State:               map[string]router.State{"c": router.Closed, "o": router.Open, "h": router.HalfOpen}[st],
		ConsecutiveFailures: int(n[0]), WindowRequests: int(n[1]), WindowFailures: int(n[2]),
		OpenedAt: micros(n[3]), CooldownUntil: micros(n[4]),
	}, nil
}

func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
