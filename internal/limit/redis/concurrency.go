package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// acquireScript takes a slot: KEYS[1] is a sorted set of slot ids scored by
// lease expiry (µs); ARGV = now (0: server time), max, slot id, lease (µs).
// Expired leases (a replica that died holding them) are dropped first, so
// slots never leak. Returns 1 when the slot was taken, 0 when full.
var acquireScript = goredis.NewScript(luaDiv + `
local now = clock(ARGV[1])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', str(now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], str(now + lease), ARGV[3])
redis.call('PEXPIRE', KEYS[1], fdiv(lease, 1000) + 1000)
return 1
`)

// renewScript extends the leases of slots still held: KEYS are slot sets,
// ARGV = now (0: server time), lease (µs), then one slot id per key. A slot
// that already expired is not brought back (ZADD XX), so renewal can never
// push a set above its maximum.
var renewScript = goredis.NewScript(luaDiv + `
local now = clock(ARGV[1])
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', str(now + lease), ARGV[2 + i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], fdiv(lease, 1000) + 1000)
  end
end
return 0
`)

// Concurrency caps in-flight requests per key across replicas. Each held
// slot is a member of the key's sorted set with a lease that a background
// loop renews every Lease/3; Close stops the loop. It is safe for concurrent
// use.
type Concurrency struct {
	c    goredis.Scripter
	opts Options

	mu   sync.Mutex
	held map[slot]struct{}

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type slot struct{ key, id string }

var _ limit.ConcurrencyLimiter = (*Concurrency)(nil)

// NewConcurrency returns a limiter on c and starts its lease renewal; call
// Close when done.
func NewConcurrency(c goredis.Scripter, opts Options) *Concurrency {
	l := &Concurrency{
		c: c, opts: opts.withDefaults(), held: make(map[slot]struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.renewLoop()
	return l
}

// Close stops lease renewal. Slots still held then expire after Lease.
func (l *Concurrency) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// Acquire implements limit.ConcurrencyLimiter.
func (l *Concurrency) Acquire(ctx context.Context, key string, maxHeld int64) (func(), error) {
	if maxHeld <= 0 {
		return nil, fmt.Errorf("acquire %q: %w: max must be positive", key, limit.ErrInvalidRate)
	}
	s := slot{key: l.opts.Prefix + "par:" + key, id: token()}
	ok, err := acquireScript.Run(ctx, l.c, []string{s.key},
		l.opts.nowMicros(), maxHeld, s.id, l.opts.Lease.Microseconds()).Int()
	if err != nil {
		return nil, fmt.Errorf("redis concurrency limiter: acquire %q: %w", key, err)
	}
	if ok != 1 {
		return nil, limit.ErrTooManyInFlight
	}
	l.mu.Lock()
	l.held[s] = struct{}{}
	l.mu.Unlock()
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		l.mu.Lock()
		delete(l.held, s)
		l.mu.Unlock()
		// Release must happen even when the request's context is gone; if
		// Redis cannot be reached the lease frees the slot later.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.zrem(rctx, s)
	}, nil
}

func (l *Concurrency) zrem(ctx context.Context, s slot) error {
	c, ok := l.c.(goredis.Cmdable)
	if !ok {
		return nil // no plain commands: the lease expires the slot
	}
	if err := c.ZRem(ctx, s.key, s.id).Err(); err != nil {
		return fmt.Errorf("release slot: %w", err)
	}
	return nil
}

func (l *Concurrency) renewLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.renew()
		}
	}
}

// renew extends every held slot's lease in one script call. An error is
// not fatal: the next tick retries, and a slot whose lease lapsed meanwhile
// is simply free again (the only effect of an outage longer than Lease).
func (l *Concurrency) renew() {
	l.mu.Lock()
	keys := make([]string, 0, len(l.held))
	args := make([]any, 0, 2+len(l.held))
	args = append(args, l.opts.nowMicros(), l.opts.Lease.Microseconds())
	for s := range l.held {
		keys = append(keys, s.key)
		args = append(args, s.id)
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Lease/3)
	defer cancel()
	_ = renewScript.Run(ctx, l.c, keys, args...).Err()
}
