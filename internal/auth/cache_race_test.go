package auth_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// slowGet holds a key lookup after it has read the row, so a revocation
// can commit (and the cache be cleared) while the stale row is in flight.
type slowGet struct {
	*sqlite.Store
	armed atomic.Bool
	gate  chan struct{}
}

func (s *slowGet) GetKey(ctx context.Context, id string) (*store.Key, error) {
	k, err := s.Store.GetKey(ctx, id)
	if s.armed.Load() {
		<-s.gate
	}
	return k, err
}

// TestRevocationWinsOverInFlightLookup: a lookup that read a key just
// before another process revoked it must not put the stale record back
// into the cache after the cache was cleared.
func TestRevocationWinsOverInFlightLookup(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	st1, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st1.Close()
	defer st2.Close()
	hk := []byte(strings.Repeat("h", 32))
	la, _ := audit.New(st1, []byte(strings.Repeat("k", 32)))
	lb, _ := audit.New(st2, []byte(strings.Repeat("k", 32)))
	sg := &slowGet{Store: st1, gate: make(chan struct{})}
	serve := auth.NewKeys(sg, hk, la) // the running server
	cli := auth.NewKeys(st2, hk, lb)  // `bulwark keys revoke` in another process
	full, rec, err := cli.Create(ctx, "t", auth.KeySpec{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	sg.armed.Store(true)
	done := make(chan error)
	go func() { _, err := serve.Authenticate(ctx, full); done <- err }()
	time.Sleep(100 * time.Millisecond) // the lookup has read the active row
	if err := cli.Revoke(ctx, "t", "", rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := serve.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	sg.armed.Store(false)
	close(sg.gate)
	<-done
	if err := serve.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := serve.Authenticate(ctx, full); err == nil {
		t.Fatal("revoked key still authenticates: a stale record was cached")
	}
}
