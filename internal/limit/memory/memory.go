// Package memory implements the limit interfaces in process memory: exact,
// atomic under one mutex per limiter, and bounded. It is the embedded default
// for a single replica; replicas that must share limits use the Redis
// implementation, which passes the same conformance suite (limittest).
package memory

import (
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxKeys    = 100_000
	DefaultSweepEvery = time.Minute
	DefaultHoldTTL    = time.Hour
)

// Options bound and clock a memory limiter. The zero value is usable.
type Options struct {
	// Clock drives decay, periods and expiry; nil means time.Now.
	Clock limit.Clock
	// MaxKeys bounds the number of live entries. When it is reached and no
	// idle entry can be dropped, operations on new keys fail with
	// limit.ErrCapacity (fail closed) rather than forget live state.
	MaxKeys int
	// SweepEvery is how often idle entries are looked for and dropped.
	SweepEvery time.Duration
	// HoldTTL bounds how long a budget hold may stay unsettled; an expired
	// hold is settled at its full worst case (never released), so a caller
	// that forgets to settle can only under-spend, never overspend.
	HoldTTL time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = DefaultSweepEvery
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = DefaultHoldTTL
	}
	return o
}
