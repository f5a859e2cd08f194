package redis_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/idempotency/idempotencytest"
	"github.com/bulwarkhq/bulwark/internal/idempotency/redis"
	"github.com/bulwarkhq/bulwark/internal/redistest"
)

var shared redistest.Shared

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

func TestConformance(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T, now func() time.Time) (idempotency.Store, func() int) {
		s := redis.New(shared.Client(t), redis.Options{Prefix: redistest.Prefix(), Options: idempotencytest.Options(now)})
		return s, func() int {
			n, err := s.Len(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	})
}

func TestBounds(t *testing.T) {
	ctx := context.Background()
	h := sha256.Sum256(nil)
	s := redis.New(shared.Client(t), redis.Options{Prefix: redistest.Prefix(), Options: idempotency.Options{
		MaxEntries: 3, MaxBytes: 1000, MaxEntriesPerScope: 3, MaxBytesPerScope: 1000}})
	var tickets []idempotency.Ticket
	for i := range 3 { // one scope each: the store's bounds, not a scope's share
		b, err := s.Begin(ctx, fmt.Sprint("key:", i), fmt.Sprint(i), h)
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, b.Ticket)
	}
	if _, err := s.Begin(ctx, "key:1", "x", h); !errors.Is(err, idempotency.ErrCapacity) {
		t.Fatalf("4th live key: err = %v, want ErrCapacity", err)
	}
	if err := s.Complete(ctx, tickets[0], idempotency.Response{Status: 200, Body: make([]byte, 2000)}); !errors.Is(err, idempotency.ErrTooLarge) {
		t.Fatalf("oversized response: err = %v, want ErrTooLarge", err)
	}
	if b, err := s.Begin(ctx, "key:0", "0", h); err != nil || b.Outcome != idempotency.New {
		t.Fatalf("key of an unstorable response must run again: %v, %v", b.Outcome, err)
	}
	// Stored bytes add up across entries: two of 600 do not fit in 1000.
	if err := s.Complete(ctx, tickets[1], idempotency.Response{Status: 200, Body: make([]byte, 600)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, tickets[2], idempotency.Response{Status: 200, Body: make([]byte, 600)}); !errors.Is(err, idempotency.ErrTooLarge) {
		t.Fatalf("second 600-byte response in a 1000-byte store: err = %v, want ErrTooLarge", err)
	}
}

// A scope's share holds across replicas sharing the store: one key taking
// turns on two replicas keeps at most its share, and once its share is in
// flight it is refused on both while another key is not.
func TestScopeShareAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	p := redistest.Prefix()
	o := idempotency.Options{MaxEntries: 40, MaxBytes: 1 << 20, MaxEntriesPerScope: 5, MaxBytesPerScope: 1000}
	replicas := []*redis.Store{redis.New(shared.Client(t), redis.Options{Prefix: p, Options: o}),
		redis.New(shared.Client(t), redis.Options{Prefix: p, Options: o})}
	h := sha256.Sum256(nil)
	resp := idempotency.Response{Status: 200, Body: make([]byte, 300)}
	for i := range 40 {
		s := replicas[i%2]
		b, err := s.Begin(ctx, "key:a", fmt.Sprint(i), h)
		if err != nil || b.Outcome != idempotency.New {
			t.Fatalf("begin %d: %v %v", i, b.Outcome, err)
		}
		if err := s.Complete(ctx, b.Ticket, resp); err != nil {
			t.Fatalf("complete %d: %v", i, err)
		}
	}
	if n, err := replicas[0].Len(ctx); err != nil || n > 3 {
		t.Fatalf("one key holds %d entries (%v); its byte share keeps 3 answers of 300 bytes", n, err)
	}
	for i := range 5 {
		if b, err := replicas[i%2].Begin(ctx, "key:a", fmt.Sprint("f", i), h); err != nil || b.Outcome != idempotency.New {
			t.Fatalf("in flight %d: %v %v", i, b.Outcome, err)
		}
	}
	for i, s := range replicas {
		if _, err := s.Begin(ctx, "key:a", "over", h); !errors.Is(err, idempotency.ErrCapacity) {
			t.Fatalf("past the share on one replica or the other: err = %v, want ErrCapacity", err)
		}
		if b, err := s.Begin(ctx, "key:b", fmt.Sprint(i), h); err != nil || b.Outcome != idempotency.New {
			t.Fatalf("another key: %v %v", b.Outcome, err)
		}
	}
}

// Two replicas, 50 concurrent repeats split between them: the upstream is
// called once and everyone else replays its answer, binary body intact.
func TestReplicasCallUpstreamOnce(t *testing.T) {
	ctx := context.Background()
	p := redistest.Prefix()
	replicas := []*redis.Store{redis.New(shared.Client(t), redis.Options{Prefix: p}), redis.New(shared.Client(t), redis.Options{Prefix: p})}
	h := sha256.Sum256([]byte("body"))
	body := []byte("data: {\"x\":1}\n\n\x00\xff")
	var upstream, replays atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			s := replicas[i%2]
			b, err := idempotency.Await(ctx, s, "key:1", "k", h)
			if err != nil {
				t.Error(err)
				return
			}
			switch b.Outcome {
			case idempotency.New:
				upstream.Add(1)
				time.Sleep(30 * time.Millisecond)
				resp := idempotency.Response{Status: 201, Header: map[string][]string{"Content-Type": {"text/event-stream"}}, Body: body}
				if err := s.Complete(ctx, b.Ticket, resp); err != nil {
					t.Error(err)
				}
			case idempotency.Replay:
				if b.Response.Status == 201 && string(b.Response.Body) == string(body) && b.Response.Header.Get("Content-Type") == "text/event-stream" {
					replays.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if upstream.Load() != 1 || replays.Load() != 49 {
		t.Fatalf("upstream %d, replays %d; want 1 and 49", upstream.Load(), replays.Load())
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	srv := redistest.StartServer(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer c.Close()
	s := redis.New(c, redis.Options{})
	srv.Stop()
	if _, err := s.Begin(context.Background(), "key:1", "k", sha256.Sum256(nil)); err == nil {
		t.Fatal("Begin with redis down succeeded; want an error (the gateway answers 503)")
	}
}
