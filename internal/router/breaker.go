package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// State of a deployment's circuit breaker.
type State string

// Breaker states.
const (
	Closed   State = "closed"    // traffic flows
	Open     State = "open"      // traffic refused until the cooldown ends
	HalfOpen State = "half-open" // a limited number of probes may pass
)

// Outcome is what an attempt reports to the breaker.
type Outcome int

// Outcomes.
const (
	// Success: the deployment answered (including client errors: a 400 says
	// nothing bad about the deployment).
	Success Outcome = iota
	// Failure: a retryable error (5xx, timeout, connection error).
	Failure
	// RateLimited: a 429; the deployment cools down for the retry-after
	// without counting as a failure.
	RateLimited
)

// Status is a breaker's state as seen now.
type Status struct {
	State               State     `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	WindowRequests      int       `json:"window_requests"`
	WindowFailures      int       `json:"window_failures"`
	OpenedAt            time.Time `json:"opened_at,omitzero"`
	CooldownUntil       time.Time `json:"cooldown_until,omitzero"` // 429 cooldown
}

// Available reports whether a request may be routed to the deployment at
// now: not open (or open with its cooldown elapsed, i.e. ready to probe) and
// not in a 429 cooldown.
func (s Status) Available(now time.Time) bool {
	return s.State != Open && !now.Before(s.CooldownUntil)
}

// BreakerStore holds circuit-breaker state per deployment. Implementations
// (memory here, Redis later) must pass breakertest.Run and be safe for
// concurrent use.
type BreakerStore interface {
	// Allow reports whether an attempt may go to the deployment now. In
	// half-open state it consumes one of the limited probe slots.
	Allow(ctx context.Context, name string) (bool, error)
	// Record reports an attempt's outcome. retryAfter is the 429 cooldown
	// (0: the configured default).
	Record(ctx context.Context, name string, o Outcome, retryAfter time.Duration) error
	// Status returns the current state without changing it.
	Status(ctx context.Context, name string) (Status, error)
}

// BreakerConfig tunes when a breaker opens and how it recovers.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (0 disables the rule).
	ConsecutiveFailures int `json:"consecutive_failures" yaml:"consecutive_failures"`
	// ErrorRate in (0,1] opens the breaker when failures/requests over
	// Window reaches it, once MinRequests were seen (0 disables the rule).
	ErrorRate   float64       `json:"error_rate" yaml:"error_rate"`
	Window      time.Duration `json:"window" yaml:"window"`
	MinRequests int           `json:"min_requests" yaml:"min_requests"`
	// Cooldown is how long the breaker stays open before probing.
	Cooldown time.Duration `json:"cooldown" yaml:"cooldown"`
	// HalfOpenProbes is how many attempts may probe at once.
	HalfOpenProbes int `json:"half_open_probes" yaml:"half_open_probes"`
	// RateLimitCooldown applies to a 429 without retry-after.
	RateLimitCooldown time.Duration `json:"rate_limit_cooldown" yaml:"rate_limit_cooldown"`
}

// DefaultBreakerConfig is a conservative default: open after 5 failures in
// a row or 50% errors over 20+ requests in 60s; probe after 30s.
var DefaultBreakerConfig = BreakerConfig{
	ConsecutiveFailures: 5, ErrorRate: 0.5, Window: time.Minute, MinRequests: 20,
	Cooldown: 30 * time.Second, HalfOpenProbes: 1, RateLimitCooldown: 5 * time.Second,
}

// Validate checks the configuration.
func (c BreakerConfig) Validate() error {
	switch {
	case c.ConsecutiveFailures < 0 || c.MinRequests < 0 || c.ErrorRate < 0 || c.ErrorRate > 1:
		return fmt.Errorf("%w: breaker thresholds out of range", ErrConfig)
	case c.ErrorRate > 0 && (c.Window <= 0 || c.MinRequests == 0):
		return fmt.Errorf("%w: breaker error rate needs a window and a minimum request count", ErrConfig)
	case c.Cooldown <= 0 || c.HalfOpenProbes <= 0 || c.RateLimitCooldown < 0:
		return fmt.Errorf("%w: breaker needs a positive cooldown and probe count", ErrConfig)
	}
	return nil
}

// ErrBreakerCapacity is returned when the memory store tracks too many
// deployments.
var ErrBreakerCapacity = errors.New("router: breaker store capacity exhausted")

// windowBuckets is the resolution of the error-rate window.
const windowBuckets = 10

// MemoryBreaker is the in-process BreakerStore. It is safe for concurrent
// use and bounded: a closed breaker with nothing to remember is dropped after
// a window of idleness, and at most maxEntries deployments are tracked.
type MemoryBreaker struct {
	cfg        BreakerConfig
	now        func() time.Time
	maxEntries int

	mu        sync.Mutex
	entries   map[string]*breaker
	lastSweep time.Time
}

type bucket struct {
	epoch          int64
	total, failure int
}

type breaker struct {
	state       State
	consecutive int
	buckets     [windowBuckets]bucket
	openedAt    time.Time
	probes      int
	cooldown    time.Time // 429 cooldown end
	lastSeen    time.Time
}

var _ BreakerStore = (*MemoryBreaker)(nil)

// NewMemoryBreaker validates cfg and returns an empty store. now may be nil
// (time.Now); maxEntries ≤ 0 means 10000.
func NewMemoryBreaker(cfg BreakerConfig, now func() time.Time, maxEntries int) (*MemoryBreaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	return &MemoryBreaker{cfg: cfg, now: now, maxEntries: maxEntries, entries: make(map[string]*breaker)}, nil
}

// Len returns the number of tracked deployments.
func (m *MemoryBreaker) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Allow implements BreakerStore.
func (m *MemoryBreaker) Allow(_ context.Context, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	b := m.entries[name]
	if b == nil {
		return true, nil // never seen: closed; nothing to store yet
	}
	b.lastSeen = now
	if now.Before(b.cooldown) {
		return false, nil
	}
	m.advance(b, now)
	switch b.state {
	case Open:
		return false, nil
	case HalfOpen:
		if b.probes >= m.cfg.HalfOpenProbes {
			return false, nil
		}
		b.probes++
	}
	return true, nil
}

// advance moves an open breaker whose cooldown elapsed to half-open, and
// re-arms probes that never reported back within another cooldown.
func (m *MemoryBreaker) advance(b *breaker, now time.Time) {
	if (b.state == Open || b.state == HalfOpen) && !now.Before(b.openedAt.Add(m.cfg.Cooldown)) {
		if b.state == Open || !now.Before(b.openedAt.Add(2*m.cfg.Cooldown)) {
			b.openedAt = now.Add(-m.cfg.Cooldown)
			b.probes = 0
		}
		b.state = HalfOpen
	}
}

// Record implements BreakerStore.
func (m *MemoryBreaker) Record(_ context.Context, name string, o Outcome, retryAfter time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.maybeSweep(now)
	b := m.entries[name]
	if b == nil {
		if o == Success {
			return nil // a closed breaker with a success to add is the zero state
		}
		if len(m.entries) >= m.maxEntries {
			return ErrBreakerCapacity
		}
		b = &breaker{state: Closed}
		m.entries[name] = b
	}
	b.lastSeen = now
	m.advance(b, now)
	switch o {
	case Success:
		m.success(b, now)
	case Failure:
		m.failure(b, now)
	case RateLimited:
		if retryAfter <= 0 {
			retryAfter = m.cfg.RateLimitCooldown
		}
		if until := now.Add(retryAfter); until.After(b.cooldown) {
			b.cooldown = until
		}
		if b.state == HalfOpen && b.probes > 0 {
			b.probes-- // the probe learned nothing; let another try later
		}
	}
	return nil
}

func (m *MemoryBreaker) success(b *breaker, now time.Time) {
	switch b.state {
	case HalfOpen:
		*b = breaker{state: Closed, cooldown: b.cooldown, lastSeen: now}
	case Closed:
		b.consecutive = 0
		m.bucketAt(b, now).total++
	}
}

func (m *MemoryBreaker) failure(b *breaker, now time.Time) {
	switch b.state {
	case HalfOpen:
		b.state, b.openedAt, b.probes = Open, now, 0
	case Closed:
		b.consecutive++
		bk := m.bucketAt(b, now)
		bk.total++
		bk.failure++
		if m.trips(b, now) {
			b.state, b.openedAt, b.probes = Open, now, 0
		}
	}
}

func (m *MemoryBreaker) trips(b *breaker, now time.Time) bool {
	if m.cfg.ConsecutiveFailures > 0 && b.consecutive >= m.cfg.ConsecutiveFailures {
		return true
	}
	if m.cfg.ErrorRate <= 0 {
		return false
	}
	total, fails := m.window(b, now)
	return total >= m.cfg.MinRequests && float64(fails) >= m.cfg.ErrorRate*float64(total)
}

func (m *MemoryBreaker) width() int64 {
	return max(int64(m.cfg.Window)/windowBuckets, 1)
}

func (m *MemoryBreaker) bucketAt(b *breaker, now time.Time) *bucket {
	epoch := now.UnixNano() / m.width()
	bk := &b.buckets[epoch%windowBuckets]
	if bk.epoch != epoch {
		*bk = bucket{epoch: epoch}
	}
	return bk
}

func (m *MemoryBreaker) window(b *breaker, now time.Time) (total, fails int) {
	epoch := now.UnixNano() / m.width()
	for _, bk := range b.buckets {
		if bk.epoch > epoch-windowBuckets && bk.epoch <= epoch {
			total += bk.total
			fails += bk.failure
		}
	}
	return total, fails
}

// Status implements BreakerStore.
func (m *MemoryBreaker) Status(_ context.Context, name string) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.entries[name]
	if b == nil {
		return Status{State: Closed}, nil
	}
	now := m.now()
	s := Status{State: b.state, ConsecutiveFailures: b.consecutive, CooldownUntil: b.cooldown}
	if b.state != Closed {
		s.OpenedAt = b.openedAt
		if b.state == Open && !now.Before(b.openedAt.Add(m.cfg.Cooldown)) {
			s.State = HalfOpen // ready to probe on the next Allow
		}
	}
	s.WindowRequests, s.WindowFailures = m.window(b, now)
	return s, nil
}

func (m *MemoryBreaker) maybeSweep(now time.Time) {
	if now.Sub(m.lastSweep) < m.cfg.Window {
		return
	}
	m.lastSweep = now
	for name, b := range m.entries {
		idle := now.Sub(b.lastSeen)
		quiet := b.state == Closed && b.consecutive == 0 && !now.Before(b.cooldown)
		// A quiet breaker idle for a window equals the zero state; anything
		// idle for ten windows and cooldowns is forgotten to bound memory
		// (it would have been half-open long since).
		if (quiet && idle >= m.cfg.Window) || idle >= 10*(m.cfg.Window+m.cfg.Cooldown) {
			delete(m.entries, name)
		}
	}
}
