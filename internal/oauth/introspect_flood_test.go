package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// These tests show that a flood of bad tokens does not become a flood of
// outbound introspection requests: refusals are cached briefly and in a
// bounded cache, and concurrent lookups of one token share one request.

func TestIntrospectorCachesRefusalsBriefly(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"inactive", "tok-inactive", ErrInactive},
		{"unknown to the server", "tok-nobody-issued", ErrInactive},
		{"wrong audience", "tok-wrong-aud", ErrAudience},
		{"unmapped subject", "tok-unmapped", ErrUnmappedSubject},
		{"expired", "tok-expired", ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			in, as := newIntrospector(t, c, 0)
			for range 20 {
				if _, err := in.Authenticate(context.Background(), tt.token); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			}
			if n := as.hitsFor(tt.token); n != 1 {
				t.Fatalf("20 lookups of a refused token made %d introspection requests, want 1", n)
			}
			c.t = c.t.Add(DefaultNegativeCacheTTL) // a refusal is not remembered longer
			if _, err := in.Authenticate(context.Background(), tt.token); !errors.Is(err, tt.want) {
				t.Fatalf("after the negative TTL: err = %v", err)
			}
			if n := as.hitsFor(tt.token); n != 2 {
				t.Fatalf("refusal cached beyond NegativeTTL: %d requests, want 2", n)
			}
			if in.Len() != 0 {
				t.Fatalf("a refusal entered the active cache (%d entries)", in.Len())
			}
		})
	}
}

func TestIntrospectorNeverCachesAnUnreachableEndpoint(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, as := newIntrospector(t, c, 0)
	as.status = http.StatusServiceUnavailable
	for range 3 {
		if _, err := in.Authenticate(context.Background(), "tok-active"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	}
	if n := as.hitsFor("tok-active"); n != 3 {
		t.Fatalf("an outage was cached: %d requests for 3 lookups", n)
	}
	as.status = 0 // the endpoint recovers: the token works at once
	if _, err := in.Authenticate(context.Background(), "tok-active"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestIntrospectorRefusalCacheIsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, as := newIntrospector(t, c, 2)
	in.refused = newTTLCache[error](2) // as Init would with MaxNegativeEntries: 2
	ctx := context.Background()
	if _, err := in.Authenticate(ctx, "tok-active"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // a flood of distinct bad tokens
		_, _ = in.Authenticate(ctx, fmt.Sprintf("tok-junk-%d", i))
	}
	if n := in.refused.len(); n != 2 {
		t.Fatalf("refusal cache holds %d entries, cap 2", n)
	}
	if _, err := in.Authenticate(ctx, "tok-active"); err != nil || as.hitsFor("tok-active") != 1 {
		t.Fatalf("bad tokens evicted a good one: err %v, requests %d", err, as.hitsFor("tok-active"))
	}
	_, _ = in.Authenticate(ctx, "tok-junk-0") // evicted long ago: asked again
	if n := as.hitsFor("tok-junk-0"); n != 2 {
		t.Fatalf("evicted refusal answered from cache: %d requests", n)
	}
}

func TestIntrospectorCoalescesConcurrentLookups(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		status int // an outage is never cached, so only coalescing can save requests
		want   error
	}{
		{"active token", "tok-active-2", 0, nil},
		{"refused token", "tok-wrong-aud", 0, ErrAudience},
		{"endpoint failing", "tok-active-3", http.StatusInternalServerError, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			in, as := newIntrospector(t, c, 0)
			as.status, as.block = tt.status, make(chan struct{})
			const callers = 32
			var started, done sync.WaitGroup
			errs := make(chan error, callers)
			for range callers {
				started.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					started.Done()
					_, err := in.Authenticate(context.Background(), tt.token)
					errs <- err
				}()
			}
			started.Wait()
			waitFor(t, func() bool { return as.total.Load() >= 1 })
			time.Sleep(200 * time.Millisecond) // let every caller join the one lookup
			close(as.block)
			done.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			}
			if n := as.total.Load(); n != 1 {
				t.Fatalf("%d concurrent lookups made %d introspection requests, want 1", callers, n)
			}
		})
	}
}

func TestIntrospectorWaiterHonoursItsContext(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	in, as := newIntrospector(t, c, 0)
	as.block = make(chan struct{})
	defer close(as.block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := in.Authenticate(ctx, "tok-active"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable and the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a caller waited %v for a stalled lookup past its own deadline", d)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
