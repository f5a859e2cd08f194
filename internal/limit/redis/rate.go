package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// rateScript is limit.Bucket (exact GCRA) in Lua, for all keys of one call
// at once: it drains every bucket, decides, and writes either every bucket
// or none. KEYS are the buckets; ARGV = now (µs, 0: server time), cost,
// mode ("t" take, "a" adjust), then limit and period (µs) per key. A bucket
// is a hash {d: debt in unit·µs, a: when d was computed, x: when it drains}
// with a TTL of its drain time plus a second; a drained bucket is deleted
// (it equals a missing one). It returns {allowed, then per key: allowed,
// remaining, reset µs, retry-after µs}.
var rateScript = goredis.NewScript(luaDiv + `
local now = clock(ARGV[1])
local cost = tonumber(ARGV[2])
local adjust = ARGV[3] == 'a'
local n = #KEYS
local debt, at, out = {}, {}, {1}
for i = 1, n do
  local lim, per = tonumber(ARGV[2 + 2*i]), tonumber(ARGV[3 + 2*i])
  local d, a
  for j = 1, i - 1 do
    if KEYS[j] == KEYS[i] then d, a = debt[j], at[j] end
  end
  if d == nil then
    local v = redis.call('HMGET', KEYS[i], 'd', 'a')
    d, a = tonumber(v[1]) or 0, tonumber(v[2]) or now
    local el = now - a
    if d <= 0 then d, a = 0, now
    elseif el > 0 then
      if el >= cdiv(d, lim) then d = 0 else d = d - el * lim end
      a = now
    end
  end
  local cap = lim * per
  local ok, retry = 1, 0
  if adjust then
    local delta = math.min(math.max(cost, -2 * lim), 2 * lim)
    d = math.min(math.max(d + delta * per, 0), 2 * cap)
  elseif d + cost * per > cap then
    ok, retry, out[1] = 0, cdiv(d + cost * per - cap, lim), 0
  else
    d = d + cost * per
  end
  debt[i], at[i] = d, a
  local rem = 0
  if d < cap then rem = fdiv(cap - d, per) end
  out[#out + 1] = ok
  out[#out + 1] = rem
  out[#out + 1] = cdiv(d, lim)
  out[#out + 1] = retry
end
if out[1] == 1 then
  for i = 1, n do
    local drain = cdiv(debt[i], tonumber(ARGV[2 + 2*i]))
    if debt[i] <= 0 then
      redis.call('DEL', KEYS[i])
    else
      redis.call('HSET', KEYS[i], 'd', str(debt[i]), 'a', str(at[i]), 'x', str(at[i] + drain))
      redis.call('PEXPIRE', KEYS[i], fdiv(drain, 1000) + 1000)
    end
  end
end
return out
`)

// RateLimiter is an exact GCRA limiter (see limit.Bucket) whose buckets
// live in Redis. It is safe for concurrent use, and replicas sharing the
// Redis and the prefix share every bucket.
type RateLimiter struct {
	c    goredis.Scripter
	opts Options
}

var _ limit.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter on c.
func NewRateLimiter(c goredis.Scripter, opts Options) *RateLimiter {
	return &RateLimiter{c: c, opts: opts.withDefaults()}
}

// Take implements limit.RateLimiter: all limits are charged or none.
func (l *RateLimiter) Take(ctx context.Context, cost int64, limits ...limit.Limit) (limit.Decision, error) {
	for _, lm := range limits {
		if err := validateRate(lm.Rate); err != nil {
			return limit.Decision{}, fmt.Errorf("take %q: %w", lm.Key, err)
		}
		if cost > lm.Rate.Limit {
			return limit.Decision{Key: lm.Key, Limit: lm.Rate.Limit}, fmt.Errorf("take %q: %w", lm.Key, limit.ErrCostTooLarge)
		}
	}
	out, err := l.run(ctx, "t", cost, limits)
	if err != nil {
		return limit.Decision{}, fmt.Errorf("redis rate limiter: take: %w", err)
	}
	var worst limit.Decision
	for i, lm := range limits {
		v := out[1+4*i:]
		d := limit.Decision{
			Allowed: v[0] == 1, Key: lm.Key, Limit: lm.Rate.Limit, Remaining: v[1],
			Reset: time.Duration(v[2]) * time.Microsecond, RetryAfter: time.Duration(v[3]) * time.Microsecond,
		}
		if i == 0 || d.Tighter(worst) {
			worst = d
		}
	}
	worst.Allowed = out[0] == 1
	return worst, nil
}

// Adjust implements limit.RateLimiter.
func (l *RateLimiter) Adjust(ctx context.Context, delta int64, limits ...limit.Limit) error {
	for _, lm := range limits {
		if err := validateRate(lm.Rate); err != nil {
			return fmt.Errorf("adjust %q: %w", lm.Key, err)
		}
	}
	if _, err := l.run(ctx, "a", delta, limits); err != nil {
		return fmt.Errorf("redis rate limiter: adjust: %w", err)
	}
	return nil
}

func (l *RateLimiter) run(ctx context.Context, mode string, cost int64, limits []limit.Limit) ([]int64, error) {
	if len(limits) == 0 {
		return []int64{1}, nil
	}
	keys := make([]string, len(limits))
	args := make([]any, 0, 3+2*len(limits))
	args = append(args, l.opts.nowMicros(), cost, mode)
	for i, lm := range limits {
		keys[i] = l.opts.Prefix + "rate:" + lm.Key
		args = append(args, lm.Rate.Limit, int64(lm.Rate.Period/time.Microsecond))
	}
	out, err := rateScript.Run(ctx, l.c, keys, args...).Int64Slice()
	if err != nil {
		return nil, err //nolint:wrapcheck // wrapped by the callers with the operation
	}
	if len(out) != 1+4*len(limits) {
		return nil, fmt.Errorf("rate script returned %d values", len(out))
	}
	return out, nil
}

// validateRate is limit.Rate.Validate plus what the microsecond clock
// needs: a period of whole microseconds.
func validateRate(r limit.Rate) error {
	if err := r.Validate(); err != nil {
		return err //nolint:wrapcheck // the callers add the key
	}
	if r.Period%time.Microsecond != 0 {
		return fmt.Errorf("%w: period %s is not a whole number of microseconds", limit.ErrInvalidRate, r.Period)
	}
	return nil
}

// itoa formats an int64 for keys.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
