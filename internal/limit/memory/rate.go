package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// RateLimiter is an exact GCRA limiter (see limit.Bucket). It is safe for
// concurrent use. A key whose debt has drained to zero is indistinguishable
// from an unknown key, so dropping it is lossless; that is how idle keys
// expire.
type RateLimiter struct {
	opts Options

	mu        sync.Mutex
	buckets   map[string]rateEntry
	lastSweep int64
}

type rateEntry struct {
	b     limit.Bucket
	limit int64 // the last rate seen, to know when the debt has drained
}

var _ limit.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns an empty limiter.
func NewRateLimiter(opts Options) *RateLimiter {
	return &RateLimiter{opts: opts.withDefaults(), buckets: make(map[string]rateEntry)}
}

// Len returns the number of tracked keys (for tests and metrics).
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Take implements limit.RateLimiter: all limits are charged or none.
func (l *RateLimiter) Take(_ context.Context, cost int64, limits ...limit.Limit) (limit.Decision, error) {
	for _, lm := range limits {
		if err := lm.Rate.Validate(); err != nil {
			return limit.Decision{}, fmt.Errorf("take %q: %w", lm.Key, err)
		}
	}
	var scratch [4]limit.Bucket
	next := scratch[:0]
	if len(limits) > len(scratch) {
		next = make([]limit.Bucket, 0, len(limits))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now().UnixNano()
	l.maybeSweep(now)
	var worst limit.Decision
	allowed := true
	for i, lm := range limits {
		b := l.current(limits[:i], next, lm, now)
		nb, d, err := b.Admit(lm.Rate, cost)
		d.Key = lm.Key
		if err != nil {
			return d, fmt.Errorf("take %q: %w", lm.Key, err)
		}
		allowed = allowed && d.Allowed
		if i == 0 || d.Tighter(worst) {
			worst = d
		}
		next = append(next, nb)
	}
	if !allowed {
		worst.Allowed = false
		return worst, nil
	}
	if err := l.store(limits, next); err != nil {
		return limit.Decision{}, err
	}
	return worst, nil
}

// Adjust implements limit.RateLimiter.
func (l *RateLimiter) Adjust(_ context.Context, delta int64, limits ...limit.Limit) error {
	for _, lm := range limits {
		if err := lm.Rate.Validate(); err != nil {
			return fmt.Errorf("adjust %q: %w", lm.Key, err)
		}
	}
	var scratch [4]limit.Bucket
	next := scratch[:0]
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock.Now().UnixNano()
	for i, lm := range limits {
		b := l.current(limits[:i], next, lm, now)
		next = append(next, b.Charge(lm.Rate, delta))
	}
	return l.store(limits, next)
}

// current returns the drained bucket of lm, taking into account an earlier
// limit in the same call with the same key.
func (l *RateLimiter) current(prev []limit.Limit, prevNext []limit.Bucket, lm limit.Limit, now int64) limit.Bucket {
	for j := len(prev) - 1; j >= 0; j-- {
		if prev[j].Key == lm.Key {
			return prevNext[j]
		}
	}
	return l.buckets[lm.Key].b.Drain(lm.Rate, now)
}

func (l *RateLimiter) store(limits []limit.Limit, next []limit.Bucket) error {
	for i, lm := range limits {
		if _, ok := l.buckets[lm.Key]; !ok && len(l.buckets) >= l.opts.MaxKeys {
			l.sweep(next[i].At)
			if len(l.buckets) >= l.opts.MaxKeys {
				return fmt.Errorf("rate limiter: %w", limit.ErrCapacity)
			}
		}
	}
	for i, lm := range limits {
		if next[i].Debt == 0 {
			delete(l.buckets, lm.Key)
			continue
		}
		l.buckets[lm.Key] = rateEntry{b: next[i], limit: lm.Rate.Limit}
	}
	return nil
}

func (l *RateLimiter) maybeSweep(now int64) {
	if now-l.lastSweep >= int64(l.opts.SweepEvery) {
		l.sweep(now)
	}
}

// sweep drops every key whose debt has drained: such keys are full buckets.
func (l *RateLimiter) sweep(now int64) {
	l.lastSweep = now
	for k, e := range l.buckets {
		if e.b.Drain(limit.Rate{Limit: e.limit}, now).Debt == 0 {
			delete(l.buckets, k)
		}
	}
}
