// Package limit defines the state machinery that keeps a caller inside its
// limits: request and token rates, concurrency caps and money budgets. It
// holds the interfaces and the pure arithmetic (rates, prices, periods,
// response headers); implementations live in subpackages (memory now, Redis
// later) and must all pass the conformance suite in package limittest.
//
// Every limit keys on a string the caller composes from a verified identity
// (for example "rpm:key:<id>", "tpm:tenant:<t>", "rpm:deploy:<name>", and
// "cpm:key:<id>" for the key's token counts, see Gate.AdmitCount), never
// on anything a client could forge. Implementations fail closed: when they
// cannot decide they return an error and the caller refuses the request.
package limit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Clock returns the current time. Every implementation takes one so tests can
// drive periods, decay and expiry deterministically; nil means time.Now.
type Clock func() time.Time

// Now returns c() or time.Now() when c is nil.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Sentinel errors callers branch on.
var (
	// ErrInvalidRate is returned for a Rate that cannot be enforced exactly.
	ErrInvalidRate = errors.New("limit: invalid rate")
	// ErrCostTooLarge means a single request costs more than the whole limit
	// and can never be admitted (e.g. a prompt larger than the TPM limit).
	ErrCostTooLarge = errors.New("limit: request cost exceeds the limit")
	// ErrTooManyInFlight is returned by ConcurrencyLimiter.Acquire when max
	// requests are already running for the key.
	ErrTooManyInFlight = errors.New("limit: too many requests in flight")
	// ErrCapacity means an implementation reached its configured bound of
	// tracked entries and refuses (fails closed) rather than forget state.
	ErrCapacity = errors.New("limit: state capacity exhausted")
)

// maxUnits bounds Limit*Period so the exact integer arithmetic of rate
// limiters (and a Redis Lua port using 64-bit integers) never overflows, with
// headroom for charges beyond the limit.
const maxUnits = math.MaxInt64 / 4

// Rate is Limit units (requests or tokens) per Period. Limits are enforced
// exactly with GCRA: a full bucket admits Limit units at once and refills
// continuously at Limit per Period.
type Rate struct {
	Limit  int64
	Period time.Duration
}

// PerMinute returns a Rate of n per minute.
func PerMinute(n int64) Rate { return Rate{Limit: n, Period: time.Minute} }

// Validate reports whether r can be enforced exactly. Limit*Period (in
// nanoseconds) must stay below 2^61; for per-minute rates that allows up to
// about 38 million units per minute.
func (r Rate) Validate() error {
	if r.Limit <= 0 || r.Period <= 0 {
		return fmt.Errorf("%w: limit and period must be positive", ErrInvalidRate)
	}
	if r.Limit > maxUnits/int64(r.Period) {
		return fmt.Errorf("%w: %d per %s is too large", ErrInvalidRate, r.Limit, r.Period)
	}
	return nil
}

// Limit names one rate applied to one key.
type Limit struct {
	Key  string
	Rate Rate
}

// Decision is the outcome of a Take, with what response headers need. When
// several limits were checked it describes the most restrictive one.
type Decision struct {
	// Allowed is true when the cost was admitted (and charged).
	Allowed bool
	// Key is the limit key the decision describes (the refusing one when
	// refused).
	Key string
	// Limit is the configured limit of the deciding key.
	Limit int64
	// Remaining is how many units could still be taken right now.
	Remaining int64
	// Reset is how long until the deciding key is back to its full limit.
	Reset time.Duration
	// RetryAfter is how long until the refused cost would be admitted; zero
	// when Allowed.
	RetryAfter time.Duration
}

// RateLimiter admits units (requests or tokens) against one or more keys.
// Implementations are safe for concurrent use and atomic across replicas
// that share their state.
type RateLimiter interface {
	// Take charges cost to every limit, or to none of them: if any limit
	// would be exceeded nothing is charged and Decision.Allowed is false.
	Take(ctx context.Context, cost int64, limits ...Limit) (Decision, error)
	// Adjust charges (delta > 0) or refunds (delta < 0) units already taken,
	// without admission checks: it reconciles an estimate with real usage.
	Adjust(ctx context.Context, delta int64, limits ...Limit) error
}

// ConcurrencyLimiter caps the number of requests running at once per key.
// Implementations are safe for concurrent use.
type ConcurrencyLimiter interface {
	// Acquire takes one slot of key if fewer than maxHeld are held, and
	// returns a release func that is safe to call more than once (only the
	// first call counts). It returns ErrTooManyInFlight when the key is full.
	Acquire(ctx context.Context, key string, maxHeld int64) (release func(), err error)
}

// Allow takes one request against limits; a shorthand for Take(ctx, 1, ...).
func Allow(ctx context.Context, l RateLimiter, limits ...Limit) (Decision, error) {
	return l.Take(ctx, 1, limits...)
}

// TokenReservation is an estimate of tokens taken before an upstream call,
// to be reconciled with the real count after it. The zero value reconciles
// to nothing.
type TokenReservation struct {
	l        RateLimiter
	limits   []Limit
	Estimate int64
}

// ReserveTokens takes estimate tokens against limits before an upstream call.
// When the Decision is not Allowed nothing was taken and the reservation is
// empty.
func ReserveTokens(ctx context.Context, l RateLimiter, estimate int64, limits ...Limit) (TokenReservation, Decision, error) {
	d, err := l.Take(ctx, estimate, limits...)
	if err != nil || !d.Allowed {
		return TokenReservation{}, d, err
	}
	return TokenReservation{l: l, limits: limits, Estimate: estimate}, d, nil
}

// Reconcile charges or refunds the difference between the real token count
// and the estimate. Call it once, after the call (also after failures and
// disconnects, with the tokens actually processed).
func (r TokenReservation) Reconcile(ctx context.Context, actual int64) error {
	if r.l == nil || actual == r.Estimate {
		return nil
	}
	if err := r.l.Adjust(ctx, actual-r.Estimate, r.limits...); err != nil {
		return fmt.Errorf("reconcile tokens: %w", err)
	}
	return nil
}
