// Package idempotencytest is the conformance suite for idempotency.Store
// implementations (memory and Redis): one upstream call per key under
// concurrent repeats, replay of the stored response, 422 conflicts, scoping
// to the calling key, abandonment, window and lease expiry, and each
// scope's share of the store's bounds.
package idempotencytest

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
)

// The options every store under test must be built with (see Options).
const (
	Window             = time.Hour
	Lease              = time.Minute
	MaxEntries         = 8
	MaxBytes           = 4000
	MaxEntriesPerScope = 4
	MaxBytesPerScope   = 1000
)

// Options returns the options every store under test must be built with.
func Options(now func() time.Time) idempotency.Options {
	return idempotency.Options{Now: now, Window: Window, Lease: Lease, MaxEntries: MaxEntries, MaxBytes: MaxBytes,
		MaxEntriesPerScope: MaxEntriesPerScope, MaxBytesPerScope: MaxBytesPerScope}
}

// Factory returns an empty store built with Options(now). Size, when not
// nil, reports the number of tracked keys.
type Factory func(t *testing.T, now func() time.Time) (s idempotency.Store, size func() int)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	bodyA = sha256.Sum256([]byte(`{"model":"m","messages":[1]}`))
	bodyB = sha256.Sum256([]byte(`{"model":"m","messages":[2]}`))
	resp  = idempotency.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"id":"r1"}`)}
)

// Run runs the suite.
func Run(t *testing.T, factory Factory) {
	ctx := context.Background()
	setup := func(t *testing.T) (idempotency.Store, func() int, *clock) {
		c := &clock{t: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
		s, size := factory(t, c.now)
		return s, size, c
	}
	begin := func(t *testing.T, s idempotency.Store, scope, key string, h [32]byte, want idempotency.Outcome) idempotency.Begun {
		t.Helper()
		b, err := s.Begin(ctx, scope, key, h)
		if err != nil || b.Outcome != want {
			t.Fatalf("Begin(%s, %s) = %v, %v; want %v", scope, key, b.Outcome, err, want)
		}
		return b
	}

	t.Run("replay returns the stored response", func(t *testing.T) {
		s, _, _ := setup(t)
		b := begin(t, s, "key:1", "k", bodyA, idempotency.New)
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatal(err)
		}
		r := begin(t, s, "key:1", "k", bodyA, idempotency.Replay)
		if r.Response.Status != 200 || string(r.Response.Body) != `{"id":"r1"}` || r.Response.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("replayed %+v", r.Response)
		}
		if err := s.Complete(ctx, b.Ticket, resp); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Fatalf("second Complete err = %v, want ErrNotOwner", err)
		}
	})

	t.Run("different body conflicts, in flight and completed", func(t *testing.T) {
		s, _, _ := setup(t)
		b := begin(t, s, "key:1", "k", bodyA, idempotency.New)
		begin(t, s, "key:1", "k", bodyB, idempotency.Conflict)
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatal(err)
		}
		if c := begin(t, s, "key:1", "k", bodyB, idempotency.Conflict); c.Response != nil {
			t.Fatal("a conflict disclosed the stored response")
		}
	})

	t.Run("keys are scoped to the caller", func(t *testing.T) {
		s, _, _ := setup(t)
		b := begin(t, s, "key:1", "k", bodyA, idempotency.New)
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatal(err)
		}
		begin(t, s, "key:2", "k", bodyA, idempotency.New)
		begin(t, s, "key:", "1k", bodyA, idempotency.New) // no ambiguity in how scope and key join
	})

	t.Run("concurrent repeats reach the upstream once", func(t *testing.T) {
		s, _, _ := setup(t)
		var upstream, replays atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				b, err := idempotency.Await(wctx, s, "key:1", "k", bodyA)
				if err != nil {
					t.Error(err)
					return
				}
				switch b.Outcome {
				case idempotency.New:
					upstream.Add(1)
					time.Sleep(20 * time.Millisecond) // the upstream call
					if err := s.Complete(ctx, b.Ticket, resp); err != nil {
						t.Error(err)
					}
				case idempotency.Replay:
					if string(b.Response.Body) == `{"id":"r1"}` {
						replays.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if upstream.Load() != 1 || replays.Load() != 49 {
			t.Fatalf("upstream called %d times, %d replays; want 1 and 49", upstream.Load(), replays.Load())
		}
	})

	t.Run("abandon lets the next try run and wakes waiters", func(t *testing.T) {
		s, _, _ := setup(t)
		b := begin(t, s, "key:1", "k", bodyA, idempotency.New)
		w := begin(t, s, "key:1", "k", bodyA, idempotency.InFlight)
		if err := s.Abandon(ctx, b.Ticket); err != nil {
			t.Fatal(err)
		}
		if w.Done != nil {
			select {
			case <-w.Done:
			case <-time.After(5 * time.Second):
				t.Fatal("waiter not woken by Abandon")
			}
		}
		next := begin(t, s, "key:1", "k", bodyA, idempotency.New)
		if err := s.Abandon(ctx, b.Ticket); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Fatalf("stale Abandon err = %v", err)
		}
		if err := s.Complete(ctx, next.Ticket, resp); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("window and lease expire", func(t *testing.T) {
		s, size, c := setup(t)
		b := begin(t, s, "key:1", "done", bodyA, idempotency.New)
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatal(err)
		}
		stuck := begin(t, s, "key:1", "stuck", bodyA, idempotency.New)
		c.advance(Lease)
		begin(t, s, "key:1", "done", bodyA, idempotency.Replay)
		taken := begin(t, s, "key:1", "stuck", bodyA, idempotency.New)
		if err := s.Complete(ctx, stuck.Ticket, resp); !errors.Is(err, idempotency.ErrNotOwner) {
			t.Fatalf("Complete after lease expiry err = %v, want ErrNotOwner", err)
		}
		if err := s.Abandon(ctx, taken.Ticket); err != nil {
			t.Fatal(err)
		}
		c.advance(Window)
		begin(t, s, "key:1", "done", bodyB, idempotency.New) // expired: even another body runs
		if size != nil {
			c.advance(Window + time.Minute)
			begin(t, s, "key:1", "fresh", bodyA, idempotency.New)
			if n := size(); n > 1 {
				t.Fatalf("%d keys tracked after expiry, want 1", n)
			}
		}
	})

	t.Run("one scope cannot take the others' entries", func(t *testing.T) {
		s, size, _ := setup(t)
		// Past its share, a scope forgets its own oldest answers.
		for i := range 2 * MaxEntriesPerScope {
			b := begin(t, s, "key:a", strconv.Itoa(i), bodyA, idempotency.New)
			if err := s.Complete(ctx, b.Ticket, resp); err != nil {
				t.Fatal(err)
			}
		}
		if size != nil {
			if n := size(); n > MaxEntriesPerScope {
				t.Fatalf("%d keys tracked for one scope, share %d", n, MaxEntriesPerScope)
			}
		}
		for i := MaxEntriesPerScope; i < 2*MaxEntriesPerScope; i++ {
			begin(t, s, "key:a", strconv.Itoa(i), bodyA, idempotency.Replay)
		}
		b := begin(t, s, "key:b", "k", bodyA, idempotency.New)
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatal(err)
		}
		begin(t, s, "key:b", "k", bodyA, idempotency.Replay)
		// A scope whose whole share is in flight is refused, alone.
		for i := range MaxEntriesPerScope {
			begin(t, s, "key:a", "f"+strconv.Itoa(i), bodyA, idempotency.New)
		}
		if _, err := s.Begin(ctx, "key:a", "over", bodyA); !errors.Is(err, idempotency.ErrCapacity) {
			t.Fatalf("Begin past a scope's share, all in flight: err = %v, want ErrCapacity", err)
		}
		begin(t, s, "key:b", "k", bodyA, idempotency.Replay)
		begin(t, s, "key:b", "k2", bodyA, idempotency.New)
		// The store's own bound still holds: a:4 + b:2 + c:2 = MaxEntries.
		begin(t, s, "key:c", "1", bodyA, idempotency.New)
		begin(t, s, "key:c", "2", bodyA, idempotency.New)
		if _, err := s.Begin(ctx, "key:d", "1", bodyA); !errors.Is(err, idempotency.ErrCapacity) {
			t.Fatalf("Begin in a full store: err = %v, want ErrCapacity", err)
		}
	})

	t.Run("one scope cannot take the others' bytes", func(t *testing.T) {
		s, _, _ := setup(t)
		// Two answers of 300 bytes fit a 1000-byte share; a third evicts
		// the scope's oldest.
		mid := idempotency.Response{Status: 200, Header: resp.Header, Body: make([]byte, 300)}
		for i := range 3 {
			b := begin(t, s, "key:a", strconv.Itoa(i), bodyA, idempotency.New)
			if err := s.Complete(ctx, b.Ticket, mid); err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
		}
		begin(t, s, "key:a", "1", bodyA, idempotency.Replay)
		begin(t, s, "key:a", "2", bodyA, idempotency.Replay)
		b := begin(t, s, "key:a", "0", bodyA, idempotency.New)
		if err := s.Abandon(ctx, b.Ticket); err != nil {
			t.Fatal(err)
		}
		// An answer larger than the share is not stored, and evicts nothing.
		b = begin(t, s, "key:a", "big", bodyA, idempotency.New)
		big := idempotency.Response{Status: 200, Body: make([]byte, MaxBytesPerScope)}
		if err := s.Complete(ctx, b.Ticket, big); !errors.Is(err, idempotency.ErrTooLarge) {
			t.Fatalf("answer above the share: err = %v, want ErrTooLarge", err)
		}
		begin(t, s, "key:a", "big", bodyA, idempotency.New)
		begin(t, s, "key:a", "2", bodyA, idempotency.Replay)
		// Other scopes store theirs in full.
		for _, scope := range []string{"key:b", "key:c"} {
			for i := range 2 {
				b := begin(t, s, scope, strconv.Itoa(i), bodyA, idempotency.New)
				if err := s.Complete(ctx, b.Ticket, mid); err != nil {
					t.Fatalf("%s answer %d: %v", scope, i, err)
				}
			}
			begin(t, s, scope, "0", bodyA, idempotency.Replay)
		}
	})

	t.Run("invalid keys", func(t *testing.T) {
		s, _, _ := setup(t)
		for _, k := range []string{"", "has space", "tab\t", "é", string(make([]byte, 256))} {
			if _, err := s.Begin(ctx, "key:1", k, bodyA); !errors.Is(err, idempotency.ErrInvalidKey) {
				t.Fatalf("Begin(%q) err = %v, want ErrInvalidKey", k, err)
			}
		}
	})
}
