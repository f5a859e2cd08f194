package idempotency_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/idempotency/idempotencytest"
)

func TestMemoryConformance(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T, now func() time.Time) (idempotency.Store, func() int) {
		m := idempotency.NewMemory(idempotencytest.Options(now))
		return m, m.Len
	})
}

func TestMemoryBounds(t *testing.T) {
	ctx := context.Background()
	h := sha256.Sum256(nil)
	m := idempotency.NewMemory(idempotency.Options{MaxEntries: 3, MaxBytes: 1000, MaxEntriesPerScope: 3, MaxBytesPerScope: 1000})
	var tickets []idempotency.Ticket
	for i := range 3 {
		b, err := m.Begin(ctx, "key:1", fmt.Sprint(i), h)
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, b.Ticket)
	}
	if _, err := m.Begin(ctx, "key:1", "x", h); !errors.Is(err, idempotency.ErrCapacity) {
		t.Fatalf("4th live key: err = %v, want ErrCapacity", err)
	}
	big := idempotency.Response{Status: 200, Body: make([]byte, 2000)}
	if err := m.Complete(ctx, tickets[0], big); !errors.Is(err, idempotency.ErrTooLarge) {
		t.Fatalf("oversized response: err = %v, want ErrTooLarge", err)
	}
	if b, err := m.Begin(ctx, "key:1", "0", h); err != nil || b.Outcome != idempotency.New {
		t.Fatalf("key of an unstorable response must run again: %v, %v", b.Outcome, err)
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"", "a", "6f1c1a1e-8d6b-4c1e-9a43-1c3a2b5d7e90", "has space", "é", "\x00", "~!"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if idempotency.ValidateKey(k) != nil {
			return
		}
		if len(k) == 0 || len(k) > idempotency.MaxKeyLen {
			t.Fatalf("accepted key of length %d", len(k))
		}
		for _, c := range []byte(k) {
			if c <= ' ' || c > '~' {
				t.Fatalf("accepted byte %#x", c)
			}
		}
	})
}

func BenchmarkBeginReplay(b *testing.B) {
	ctx := context.Background()
	m := idempotency.NewMemory(idempotency.Options{})
	h := sha256.Sum256([]byte("body"))
	first, _ := m.Begin(ctx, "key:1", "k", h)
	_ = m.Complete(ctx, first.Ticket, idempotency.Response{Status: 200, Body: []byte("{}")})
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := m.Begin(ctx, "key:1", "k", h); r.Outcome != idempotency.Replay {
			b.Fatal(r.Outcome)
		}
	}
}
