// Package barriertest holds the conformance suite every barrier.KeyringStore
// implementation must pass (MemStore, SQLite, PostgreSQL…).
package barriertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

// RunKeyringStore runs the KeyringStore contract against stores made by
// newStore; each call must return a new, empty store. It checks the empty
// state, save/load round trips, compare-and-swap conflicts, and that two
// Barriers rotating concurrently over one store lose no term.
func RunKeyringStore(t *testing.T, newStore func(t *testing.T) barrier.KeyringStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s barrier.KeyringStore)
	}{
		{"EmptyIsNotFound", testEmpty},
		{"SaveLoadRoundTrip", testRoundTrip},
		{"StaleVersionConflicts", testStaleConflict},
		{"CreateTwiceConflicts", testCreateTwice},
		{"ConcurrentCASOneWinner", testConcurrentCAS},
		{"VersionerAgrees", testVersioner},
		{"ConcurrentRotateKeepsEveryTerm", testConcurrentRotate},
		{"RotateRetriesOnConflict", testRotateRetries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

func testEmpty(t *testing.T, s barrier.KeyringStore) {
	if _, _, err := s.LoadKeyring(t.Context()); !errors.Is(err, barrier.ErrNotFound) {
		t.Fatalf("LoadKeyring on empty store: err = %v, want ErrNotFound", err)
	}
	if err := s.SaveKeyring(t.Context(), []byte("x"), 7); !errors.Is(err, barrier.ErrConflict) {
		t.Fatalf("SaveKeyring(expect 7) on empty store: err = %v, want ErrConflict", err)
	}
	if _, _, err := s.LoadKeyring(t.Context()); !errors.Is(err, barrier.ErrNotFound) {
		t.Fatalf("a refused save must not create a keyring: err = %v", err)
	}
}

func testRoundTrip(t *testing.T, s barrier.KeyringStore) {
	ctx := t.Context()
	versions := map[int64]bool{0: true}
	ver := int64(0)
	for _, size := range []int{1, 100, 64 << 10} {
		blob := make([]byte, size)
		_, _ = rand.Read(blob)
		if err := s.SaveKeyring(ctx, blob, ver); err != nil {
			t.Fatalf("SaveKeyring(%d bytes, expect %d): %v", size, ver, err)
		}
		got, v, err := s.LoadKeyring(ctx)
		if err != nil {
			t.Fatalf("LoadKeyring: %v", err)
		}
		if !bytes.Equal(got, blob) {
			t.Fatalf("LoadKeyring returned %d bytes that differ from the %d saved", len(got), size)
		}
		if versions[v] {
			t.Fatalf("version %d reused after a save", v)
		}
		versions[v], ver = true, v
		got[0] ^= 0xff // the store must hand out a copy
		if again, _, _ := s.LoadKeyring(ctx); !bytes.Equal(again, blob) {
			t.Fatal("mutating a loaded blob changed the stored one")
		}
	}
}

func testStaleConflict(t *testing.T, s barrier.KeyringStore) {
	ctx := t.Context()
	mustSave(t, s, []byte("one"), 0)
	_, v1, _ := s.LoadKeyring(ctx)
	mustSave(t, s, []byte("two"), v1)
	if err := s.SaveKeyring(ctx, []byte("stale"), v1); !errors.Is(err, barrier.ErrConflict) {
		t.Fatalf("save with stale version: err = %v, want ErrConflict", err)
	}
	if got, _, _ := s.LoadKeyring(ctx); string(got) != "two" {
		t.Fatalf("a conflicting save changed the blob to %q", got)
	}
}

func testCreateTwice(t *testing.T, s barrier.KeyringStore) {
	mustSave(t, s, []byte("first"), 0)
	if err := s.SaveKeyring(t.Context(), []byte("second"), 0); !errors.Is(err, barrier.ErrConflict) {
		t.Fatalf("second create (expect 0): err = %v, want ErrConflict", err)
	}
}

func testConcurrentCAS(t *testing.T, s barrier.KeyringStore) {
	mustSave(t, s, []byte("base"), 0)
	_, v, _ := s.LoadKeyring(t.Context())
	const n = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.SaveKeyring(context.Background(), []byte{byte(i)}, v)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, barrier.ErrConflict):
				t.Errorf("concurrent save: unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if w := wins.Load(); w != 1 {
		t.Fatalf("%d of %d concurrent saves at the same version succeeded, want exactly 1", w, n)
	}
}

func testVersioner(t *testing.T, s barrier.KeyringStore) {
	v, ok := s.(barrier.KeyringVersioner)
	if !ok {
		return // optional capability; Watch falls back to LoadKeyring
	}
	if got, err := v.KeyringVersion(t.Context()); err != nil || got != 0 {
		t.Fatalf("KeyringVersion on empty store = %d, %v; want 0, nil", got, err)
	}
	mustSave(t, s, []byte("x"), 0)
	_, want, _ := s.LoadKeyring(t.Context())
	if got, err := v.KeyringVersion(t.Context()); err != nil || got != want {
		t.Fatalf("KeyringVersion = %d, %v; LoadKeyring says %d", got, err, want)
	}
}

func testConcurrentRotate(t *testing.T, s barrier.KeyringStore) {
	root := make([]byte, barrier.KeySize)
	_, _ = rand.Read(root)
	a, err := barrier.New(s, root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b, err := barrier.New(s, root)
	if err != nil {
		t.Fatalf("second New on the same store: %v", err)
	}
	const per = 5
	terms := make(chan uint32, 2*per)
	var wg sync.WaitGroup
	for _, br := range []*barrier.Barrier{a, b} {
		wg.Go(func() {
			for range per {
				term, err := br.Rotate(context.Background())
				if err != nil {
					t.Errorf("Rotate: %v", err)
					return
				}
				terms <- term
			}
		})
	}
	wg.Wait()
	close(terms)
	seen := map[uint32]bool{}
	for term := range terms {
		if seen[term] {
			t.Fatalf("term %d handed out twice", term)
		}
		seen[term] = true
	}
	if err := a.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := len(a.Terms()), 1+2*per; got != want {
		t.Fatalf("keyring holds %d terms after %d rotations from two Barriers, want %d", got, 2*per, want)
	}
}

func mustSave(t *testing.T, s barrier.KeyringStore, blob []byte, ver int64) {
	t.Helper()
	if err := s.SaveKeyring(t.Context(), blob, ver); err != nil {
		t.Fatalf("SaveKeyring(expect %d): %v", ver, err)
	}
}

// interleave runs during once, right after the first LoadKeyring that
// follows arming, so another writer commits between that load and the save
// that depends on it.
type interleave struct {
	barrier.KeyringStore
	armed  atomic.Bool
	during func()
}

// LoadKeyring loads, then lets the armed writer commit before returning.
func (s *interleave) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	blob, ver, err := s.KeyringStore.LoadKeyring(ctx)
	if s.armed.CompareAndSwap(true, false) {
		s.during()
	}
	return blob, ver, err
}

func testRotateRetries(t *testing.T, s barrier.KeyringStore) {
	root := make([]byte, barrier.KeySize)
	_, _ = rand.Read(root)
	wrapped := &interleave{KeyringStore: s}
	a, err := barrier.New(wrapped, root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	other, err := barrier.New(s, root)
	if err != nil {
		t.Fatalf("second New: %v", err)
	}
	wrapped.during = func() {
		if term, err := other.Rotate(context.Background()); err != nil || term != 2 {
			t.Errorf("interleaved Rotate = %d, %v; want 2", term, err)
		}
	}
	wrapped.armed.Store(true)
	term, err := a.Rotate(t.Context())
	if err != nil || term != 3 {
		t.Fatalf("Rotate racing another writer = %d, %v; want term 3 (the other writer took 2)", term, err)
	}
	if got := a.Terms(); len(got) != 3 {
		t.Fatalf("keyring terms %v after two racing rotations, want [1 2 3]", got)
	}
}
