package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
)

// Two Stores on one database are two replicas: separate pools, separate
// connections, nothing shared in memory.
func replicas(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	dsn := pgtest.Start(t)
	return openDSN(t, dsn), openDSN(t, dsn)
}

// auditLogs returns an audit log on each replica, all with one MAC key.
func auditLogs(t *testing.T, a, b *postgres.Store) []*audit.Log {
	t.Helper()
	macKey := []byte("0123456789abcdef0123456789abcdef")
	var logs []*audit.Log
	for _, s := range []store.Store{a, b} {
		l, err := audit.New(s, macKey)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	return logs
}

// Replicas appending audit events at once build one chain that verifies
// from either side: no two appends built on the same head.
func TestReplicasShareOneAuditChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := replicas(t)
	logs := auditLogs(t, a, b)
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for w := range 2 * writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logs[w%2]
			for i := range each {
				ev := audit.Event{Tenant: store.DefaultTenant, Actor: fmt.Sprint("replica-", w%2), Action: "test.append",
					Target: fmt.Sprint(w, "-", i), Outcome: "success"}
				if err := l.Append(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, l := range logs {
		rep, err := l.Verify(ctx, nil)
		if err != nil || rep.Entries != 2*writers*each || rep.First != 1 || rep.Last != 2*writers*each {
			t.Fatalf("replica %d: verify = %+v, %v; want %d entries 1..%d", i, rep, err, 2*writers*each, 2*writers*each)
		}
	}
}

// Replicas purging the old part of the chain at once, while both keep
// appending, leave one anchored chain that verifies.
func TestReplicasPurgeConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := replicas(t)
	logs := auditLogs(t, a, b)
	la, lb := logs[0], logs[1]
	for i := range 20 {
		if err := la.Append(ctx, audit.Event{Tenant: store.DefaultTenant, Actor: "a", Action: "old", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Now()
	time.Sleep(5 * time.Millisecond) // stored times are milliseconds: the appends below are newer than cut
	var wg sync.WaitGroup
	for _, l := range []*audit.Log{la, lb} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := l.Purge(ctx, cut); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 5 {
				if err := l.Append(ctx, audit.Event{Tenant: store.DefaultTenant, Actor: "x", Action: "new", Target: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i, l := range []*audit.Log{la, lb} {
		rep, err := l.Verify(ctx, nil)
		if err != nil || !rep.Anchored {
			t.Fatalf("replica %d: verify after concurrent purges = %+v, %v", i, rep, err)
		}
	}
}

// A key created or revoked through one replica is seen by the other, and
// the keys generation (what key caches poll) moves for every change made
// anywhere, including changes made at the same moment on both.
func TestReplicasSeeEachOthersKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := replicas(t)
	g0, err := b.KeysGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	k := &store.Key{ID: "k-a", Tenant: store.DefaultTenant, Name: "made on a", Hash: []byte{7}, Scopes: []string{"llm"}, CreatedAt: now}
	if err := a.CreateKey(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetKey(ctx, "k-a")
	if err != nil || got.Name != "made on a" || got.Scopes[0] != "llm" {
		t.Fatalf("replica b: GetKey = %+v, %v", got, err)
	}
	g1, _ := b.KeysGeneration(ctx)
	if g1 != g0+1 {
		t.Fatalf("replica b: generation %d after a create on a, want %d", g1, g0+1)
	}
	if _, err := a.UpdateKey(ctx, "k-a", func(k *store.Key) error { k.RevokedAt = &now; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetKey(ctx, "k-a"); got == nil || got.Active(time.Now()) {
		t.Fatal("replica b still sees the key revoked on a as active")
	}
	const perReplica = 10
	var wg sync.WaitGroup
	for r, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perReplica {
				k := &store.Key{ID: fmt.Sprint("k", r, "-", i), Tenant: store.DefaultTenant, Hash: []byte{1}, CreatedAt: now}
				if err := s.CreateKey(ctx, k, nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if g, _ := a.KeysGeneration(ctx); g != g1+1+2*perReplica {
		t.Fatalf("generation %d after %d changes from both replicas, want %d", g, 1+2*perReplica, g1+1+2*perReplica)
	}
}

// Two replicas racing to store the same secret agree on one value.
func TestReplicasFirstSecretWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := replicas(t)
	for round := range 10 {
		name := fmt.Sprint("s", round)
		var got [2]string
		var wg sync.WaitGroup
		for i, s := range []store.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.PutSecretIfAbsent(ctx, name, fmt.Sprint("from-", i))
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			}()
		}
		wg.Wait()
		if got[0] != got[1] || got[0] == "" {
			t.Fatalf("round %d: replicas stored different secrets: %q %q", round, got[0], got[1])
		}
	}
}

// Two replicas racing to store the passphrase salt of a keyring yet to be
// created (both started on an empty database) agree on one salt.
func TestReplicasFirstSaltWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for round := range 5 {
		a, b := replicas(t)
		var got [2][]byte
		var wg sync.WaitGroup
		for i, s := range []store.Store{a, b} {
			wg.Go(func() {
				v, err := s.PutKeyringSalt(ctx, []byte(fmt.Sprint("salt-of-", i)), 0)
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			})
		}
		wg.Wait()
		if !bytes.Equal(got[0], got[1]) || len(got[0]) == 0 {
			t.Fatalf("round %d: replicas stored different salts: %q %q", round, got[0], got[1])
		}
	}
}

// A salt for "no keyring yet" must not join a keyring another replica is
// creating without one (a raw root key) at that moment: PutKeyringSalt
// waits for the creating transaction and then refuses. Without the lock,
// READ COMMITTED would not see the uncommitted keyring, and the salt
// would be stored beside a keyring it never sealed.
func TestSaltWaitsForAKeyringBeingCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := openDSN(t, dsn)
	creator := pgxConnect(t, dsn)
	tx, err := creator.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "INSERT INTO keyring(id, blob, version) VALUES (1, 'raw-key ring', 1)"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		salt []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		v, err := s.PutKeyringSalt(ctx, []byte("fresh"), 0)
		done <- result{v, err}
	}()
	watcher := pgxConnect(t, dsn)
	for waiting := false; !waiting; {
		select {
		case r := <-done:
			t.Fatalf("PutKeyringSalt returned %q, %v while a keyring was being created; want it to wait", r.salt, r.err)
		case <-time.After(10 * time.Millisecond):
		}
		err := watcher.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'keyring' AND NOT l.granted)`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; !errors.Is(r.err, store.ErrConflict) {
		t.Fatalf("after the keyring was created: %q, %v; want ErrConflict", r.salt, r.err)
	}
	if _, err := s.KeyringSalt(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a salt was stored beside a keyring it did not seal: %v", err)
	}
}

// A salt write that fails after the keyring was updated rolls the keyring
// back too: a keyring is never left wrapped under a key whose salt is not
// the stored one (a trigger refuses the salt write here).
func TestSaveKeyringSaltIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := openDSN(t, dsn)
	if err := s.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutKeyringSalt(ctx, []byte("old-salt"), 1); err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'salt write refused'; END $$`,
		"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON keyring_salt FOR EACH ROW EXECUTE FUNCTION refuse()")
	for _, salt := range [][]byte{[]byte("new-salt"), nil} {
		if err := s.SaveKeyringSalt(ctx, []byte("rekeyed"), salt, 1); err == nil {
			t.Fatalf("salt %q: the refused salt write went unreported", salt)
		}
		blob, v, err := s.LoadKeyring(ctx)
		if err != nil || string(blob) != "ring" || v != 1 {
			t.Fatalf("salt %q: keyring %q at %d (%v) after a failed rekey; want the old one at 1", salt, blob, v, err)
		}
		if got, err := s.KeyringSalt(ctx); err != nil || string(got) != "old-salt" {
			t.Fatalf("salt %q: stored salt %q, %v; want the old one", salt, got, err)
		}
	}
}

// Two replicas rekeying at once from one version: one wins, the other
// gets ErrConflict, and the stored salt is the winner's.
func TestReplicasRekeyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := replicas(t)
	if err := a.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range []*postgres.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.SaveKeyringSalt(ctx, []byte(fmt.Sprint("ring-", i)), []byte(fmt.Sprint("salt-", i)), 1)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("rekeys: %v; want one success and one ErrConflict", errs)
		}
	}
	if won < 0 {
		t.Fatalf("rekeys: %v; want one success", errs)
	}
	blob, _, err := b.LoadKeyring(ctx)
	salt, serr := a.KeyringSalt(ctx)
	if err != nil || serr != nil || string(blob) != fmt.Sprint("ring-", won) || string(salt) != fmt.Sprint("salt-", won) {
		t.Fatalf("keyring %q (%v), salt %q (%v); want replica %d's", blob, err, salt, serr, won)
	}
}
