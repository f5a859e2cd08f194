package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Budget state per scope and period window is a hash {s: spent, r: reserved,
// n: pending holds, p: period, x: window end (µs, 0 for total), h<token>:
// micros held by a hold} and a sorted set of its hold tokens scored by
// expiry. The window's start is part of both key names, so a new period
// simply starts at zero in new keys and an ended one expires with its TTL.

// luaSweep settles expired holds of one window at their worst case: a hold
// that was never settled (its replica died) is charged in full.
const luaSweep = `
local function sweep(h, z, now)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', str(now))
  for _, tok in ipairs(gone) do
    local amt = tonumber(redis.call('HGET', h, 'h' .. tok))
    if amt then
      redis.call('HDEL', h, 'h' .. tok)
      redis.call('HINCRBY', h, 'r', str(-amt))
      redis.call('HINCRBY', h, 's', str(amt))
      redis.call('HINCRBY', h, 'n', -1)
    end
    redis.call('ZREM', z, tok)
  end
end
`

// reserveScript holds worst in every window or in none. KEYS = hash and
// hold set per scope; ARGV = now (µs), worst, token, hold expiry (µs), then
// per scope: limit, period, window end (µs, 0: total), TTL (ms, 0: none).
// Returns 0 when held, or the 1-based index of the refusing scope with its
// spent and reserved amounts.
var reserveScript = goredis.NewScript(luaDiv + luaSweep + `
local now, worst, tok = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2*i - 1], KEYS[2*i]
  local base = 4 + 4*(i - 1)
  if redis.call('HGET', h, 'p') ~= ARGV[base + 2] then
    redis.call('DEL', h, z) -- the scope's period was reconfigured: start afresh
  end
  sweep(h, z, now)
  local v = redis.call('HMGET', h, 's', 'r')
  local s, r = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if s + r > tonumber(ARGV[base + 1]) - worst then return {i, s, r} end
end
for i = 1, n do
  local h, z = KEYS[2*i - 1], KEYS[2*i]
  local base = 4 + 4*(i - 1)
  redis.call('HINCRBY', h, 'r', worst)
  redis.call('HINCRBY', h, 'n', 1)
  redis.call('HINCRBY', h, 's', 0)
  redis.call('HSET', h, 'p', ARGV[base + 2], 'x', ARGV[base + 3], 'h' .. tok, ARGV[2])
  redis.call('ZADD', z, ARGV[4], tok)
  local ttl = tonumber(ARGV[base + 4])
  if ttl > 0 then
    redis.call('PEXPIRE', h, ttl)
    redis.call('PEXPIRE', z, ttl)
  end
end
return {0, 0, 0}
`)

// finishScript replaces a hold with the actual cost in each window it was
// taken in that still exists; ARGV = token, actual (-1: release). A hold
// already settled, released or expired is a no-op, so settling twice cannot
// free money. A total-period window back to zero is deleted.
var finishScript = goredis.NewScript(luaDiv + `
local tok, actual = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i - 1], KEYS[2*i]
  local amt = tonumber(redis.call('HGET', h, 'h' .. tok))
  if amt then
    redis.call('HDEL', h, 'h' .. tok)
    redis.call('ZREM', z, tok)
    redis.call('HINCRBY', h, 'r', str(-amt))
    redis.call('HINCRBY', h, 'n', -1)
    local s = redis.call('HINCRBY', h, 's', str(math.max(actual, 0)))
    if s == 0 and tonumber(redis.call('HGET', h, 'n')) == 0 then
      redis.call('DEL', h, z)
    end
  end
end
return 0
`)

// Budget holds, settles and releases money per scope and period in Redis.
// It is safe for concurrent use, and parallel reservations from any number
// of replicas never together exceed a scope's limit: the check and the hold
// are one script. Amounts are exact up to 2^53 micro-USD (about $9
// billion); larger limits count as that.
type Budget struct {
	c    goredis.Scripter
	opts Options
}

var (
	_ limit.Budget       = (*Budget)(nil)
	_ limit.BudgetReader = (*Budget)(nil)
)

// maxMicros is the largest amount Lua's doubles hold exactly.
const maxMicros = 1 << 53

// NewBudget returns a budget store on c.
func NewBudget(c goredis.Scripter, opts Options) *Budget {
	return &Budget{c: c, opts: opts.withDefaults()}
}

func (b *Budget) now() time.Time { return b.opts.Clock.Now() }

// keys returns the hash and hold-set keys of id's window starting at start.
func (b *Budget) keys(id string, start time.Time) (hash, holds string) {
	w := "0"
	if !start.IsZero() {
		w = itoa(start.Unix())
	}
	return b.opts.Prefix + "budget:" + w + ":" + id, b.opts.Prefix + "holds:" + w + ":" + id
}

// Reserve implements limit.Budget.
func (b *Budget) Reserve(ctx context.Context, scopes []limit.BudgetScope, worst int64) (limit.BudgetReservation, error) {
	if err := validateScopes(scopes, worst); err != nil {
		return limit.BudgetReservation{}, fmt.Errorf("reserve: %w", err)
	}
	now := b.now()
	res := limit.BudgetReservation{Token: token(), Micros: worst, Windows: make([]limit.ScopeWindow, len(scopes))}
	keys := make([]string, 0, 2*len(scopes))
	args := make([]any, 0, 4+4*len(scopes))
	args = append(args, ceilMicros(now.UnixNano()), worst, res.Token, ceilMicros(now.Add(b.opts.HoldTTL).UnixNano()))
	for i, s := range scopes {
		p := normPeriod(s.Period)
		start, end := p.Window(now)
		h, z := b.keys(s.ID, start)
		keys = append(keys, h, z)
		res.Windows[i] = limit.ScopeWindow{ID: s.ID, Start: start}
		x, ttl := int64(0), int64(0)
		if !end.IsZero() {
			x = ceilMicros(end.UnixNano())
			ttl = max(end.Sub(now), b.opts.HoldTTL).Milliseconds() + 60_000
		}
		args = append(args, min(s.LimitMicros, maxMicros), string(p), x, ttl)
	}
	out, err := reserveScript.Run(ctx, b.c, keys, args...).Int64Slice()
	if err != nil {
		return limit.BudgetReservation{}, fmt.Errorf("redis budget: reserve: %w", err)
	}
	if len(out) != 3 || out[0] < 0 || out[0] > int64(len(scopes)) {
		return limit.BudgetReservation{}, fmt.Errorf("redis budget: reserve: script returned %v", out)
	}
	if i := out[0]; i > 0 {
		return limit.BudgetReservation{}, &limit.BudgetExceededError{
			Scope: scopes[i-1], SpentMicros: out[1], ReservedMicros: out[2], NeededMicros: worst,
		}
	}
	return res, nil
}

func validateScopes(scopes []limit.BudgetScope, worst int64) error {
	if worst < 0 || worst > maxMicros {
		return fmt.Errorf("%w: cost out of range", limit.ErrInvalidBudget)
	}
	for i, s := range scopes {
		if err := s.Validate(); err != nil {
			return err //nolint:wrapcheck // Reserve adds the context
		}
		for _, prev := range scopes[:i] {
			if prev.ID == s.ID {
				return fmt.Errorf("%w: duplicate scope %q", limit.ErrInvalidBudget, s.ID)
			}
		}
	}
	return nil
}

// Settle implements limit.Budget.
func (b *Budget) Settle(ctx context.Context, res limit.BudgetReservation, actual int64) error {
	if actual < 0 {
		return fmt.Errorf("settle: %w: negative cost", limit.ErrInvalidBudget)
	}
	return b.finish(ctx, res, min(actual, maxMicros))
}

// Release implements limit.Budget.
func (b *Budget) Release(ctx context.Context, res limit.BudgetReservation) error {
	return b.finish(ctx, res, 0)
}

func (b *Budget) finish(ctx context.Context, res limit.BudgetReservation, actual int64) error {
	if len(res.Windows) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(res.Windows))
	for _, w := range res.Windows {
		h, z := b.keys(w.ID, w.Start)
		keys = append(keys, h, z)
	}
	if err := finishScript.Run(ctx, b.c, keys, res.Token, actual).Err(); err != nil {
		return fmt.Errorf("redis budget: settle: %w", err)
	}
	return nil
}

// Usage implements limit.BudgetReader.
func (b *Budget) Usage(ctx context.Context, s limit.BudgetScope) (limit.BudgetUsage, error) {
	if err := s.Validate(); err != nil {
		return limit.BudgetUsage{}, fmt.Errorf("usage: %w", err)
	}
	p := normPeriod(s.Period)
	start, end := p.Window(b.now())
	u := limit.BudgetUsage{PeriodStart: start, PeriodEnd: end}
	h, _ := b.keys(s.ID, start)
	c, ok := b.c.(goredis.Cmdable)
	if !ok {
		return u, fmt.Errorf("redis budget: usage: client cannot run commands")
	}
	v, err := c.HMGet(ctx, h, "s", "r", "p").Result()
	if err != nil {
		return u, fmt.Errorf("redis budget: usage: %w", err)
	}
	if v[2] != string(p) {
		return u, nil // nothing yet in this window, or a period since reconfigured
	}
	u.SpentMicros, u.ReservedMicros = parseInt(v[0]), parseInt(v[1])
	return u, nil
}

func parseInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func normPeriod(p limit.Period) limit.Period {
	if p == "" {
		return limit.PeriodTotal
	}
	return p
}
