package barrier_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

// plainStore hides MemStore's KeyringVersioner, so Watch must fall back to
// LoadKeyring.
type plainStore struct{ barrier.KeyringStore }

func TestWatch(t *testing.T) {
	tests := []struct {
		name  string
		store barrier.KeyringStore
	}{
		{"versioner", &barrier.MemStore{}},
		{"load only", plainStore{&barrier.MemStore{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			serve, err := barrier.New(tt.store, root)
			if err != nil {
				t.Fatal(err)
			}
			cli, err := barrier.New(tt.store, root)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- serve.Watch(t.Context(), 5*time.Millisecond) }()

			if _, err := cli.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return serve.ActiveTerm() == 2 }, "serve to pick up term 2")

			// After a rekey elsewhere this process cannot read the keyring
			// any more: Watch stops and says why.
			if err := cli.Rekey(t.Context(), newRoot(t)); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, barrier.ErrWrongRootKey) {
					t.Fatalf("Watch after rekey elsewhere: %v, want ErrWrongRootKey", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Watch did not report the rekey")
			}
			if _, err := serve.Decrypt(credAAD, mustEncrypt(t, serve, credAAD, []byte("v"))); err != nil {
				t.Fatalf("keys in memory must keep working after a rekey elsewhere: %v", err)
			}
		})
	}
}

func TestWatchStopsOnCancel(t *testing.T) {
	b, _, _ := newBarrier(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, time.Millisecond) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch ignored cancellation")
	}
	if err := b.Watch(t.Context(), 0); err == nil {
		t.Fatal("Watch accepted a zero interval")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
