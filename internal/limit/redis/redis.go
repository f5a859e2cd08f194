// Package redis implements the limit interfaces on a shared Redis, so that
// every replica of the gateway enforces the same limits: a limit of N per
// minute is N across all replicas. Each operation is one Lua script (sent
// with EVALSHA, falling back to EVAL when the server lost its script
// cache), so reading, deciding and writing a counter can never interleave
// with another replica's: there is no GET-then-SET anywhere.
//
// Every error that is not a refusal (Redis down, a timeout, a script error)
// is returned as an error, and the gateway refuses the request with 503:
// the limiters fail closed, a Redis outage never disables limits.
//
// Keys carry a configurable prefix and a TTL so idle state expires on its
// own. Time is kept in microseconds because Lua numbers are doubles, exact
// only up to 2^53: limit.Rate.Validate keeps Limit×Period (µs) far below
// that. A single Redis (or a primary with replicas) is supported; Redis
// Cluster is not, since one script touches a key's and its tenant's keys.
package redis

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Defaults for Options fields left zero.
const (
	DefaultPrefix  = "bulwark:"
	DefaultHoldTTL = time.Hour
	DefaultLease   = 30 * time.Second
)

// Options configure the Redis limiters. The zero value is usable.
type Options struct {
	// Prefix starts every key (default "bulwark:"); replicas sharing limits
	// must use the same prefix, deployments sharing a Redis different ones.
	Prefix string
	// Clock drives decay, periods and expiry. nil means the Redis server's
	// clock (TIME) for rates and leases, so replicas with skewed clocks still
	// agree, and time.Now for budget periods.
	Clock limit.Clock
	// HoldTTL bounds how long a budget hold may stay unsettled; an expired
	// hold is charged at its full worst case, so a replica that dies before
	// settling can only make its callers under-spend.
	HoldTTL time.Duration
	// Lease is how long a concurrency slot survives without renewal. Slots
	// are renewed every Lease/3 while held, so a replica that dies frees its
	// slots within one Lease.
	Lease time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = DefaultHoldTTL
	}
	if o.Lease < 3*time.Millisecond {
		o.Lease = DefaultLease
	}
	return o
}

// nowMicros returns the clock in Unix microseconds, rounded up (so an
// interval measured in nanoseconds is never shortened), or 0 when the
// scripts should read the Redis server's clock.
func (o Options) nowMicros() int64 {
	if o.Clock == nil {
		return 0
	}
	return ceilMicros(o.Clock().UnixNano())
}

func ceilMicros(ns int64) int64 {
	if ns <= 0 {
		return ns / 1000
	}
	return (ns + 999) / 1000
}

// token returns 128 random bits in hex: names of holds and slots that no
// other replica can guess or collide with.
func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// luaDiv defines exact integer division on doubles below 2^53 (a plain
// math.floor(a/b) can round a quotient just below an integer up to it),
// str (an integer as digits: Redis would print a large double with an
// exponent) and clock (the caller's time, or the server's when 0).
const luaDiv = `
local function fdiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end
local function cdiv(a, b)
  if a <= 0 then return 0 end
  return fdiv(a + b - 1, b)
end
local function str(x) return string.format('%.0f', x) end
local function clock(arg)
  local now = tonumber(arg)
  if now == 0 then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return now
end
`
