package mcp

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Limiter admits or refuses one tool call. key names the tool and the
// verified caller ("tool:<name>:<tenant>:<key id>"), never anything taken from
// an unverified header. An error denies the call (fail closed).
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// limiterKey is the key a call is limited under.
func limiterKey(tool, tenant, keyID string) string {
	return "tool:" + tool + ":" + tenant + ":" + keyID
}

// MemoryLimiter is a fixed-window limiter for one process: at most Limit
// calls per Window per key. It is the stand-in until the shared limiter is
// wired; it is safe for concurrent use. Idle keys are swept so memory stays
// bounded by the number of keys active in one window.
type MemoryLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*fixedWindow
	swept   time.Time
}

type fixedWindow struct {
	start time.Time
	count int
}

// NewMemoryLimiter returns a limiter admitting limit calls per window per key.
func NewMemoryLimiter(limit int, window time.Duration) (*MemoryLimiter, error) {
	if limit <= 0 || window <= 0 {
		return nil, errors.New("mcp: limiter needs a positive limit and window")
	}
	return &MemoryLimiter{limit: limit, window: window, now: time.Now, windows: map[string]*fixedWindow{}}, nil
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &fixedWindow{start: now}
		l.windows[key] = w
	}
	if w.count >= l.limit {
		return false, w.start.Add(l.window).Sub(now), nil
	}
	w.count++
	return true, 0, nil
}

// sweep drops windows that have ended, at most once per window.
func (l *MemoryLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < l.window {
		return
	}
	l.swept = now
	for k, w := range l.windows {
		if now.Sub(w.start) >= l.window {
			delete(l.windows, k)
		}
	}
}
