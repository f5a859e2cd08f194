// Package storetest is the conformance suite every store.Store
// implementation must pass (sqlite now, postgres next).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Factory returns a fresh, empty store; the suite closes it.
type Factory func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("Tenants", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("Providers", func(t *testing.T) { testProviders(t, newStore(t)) })
	t.Run("Secrets", func(t *testing.T) { testSecrets(t, newStore(t)) })
	t.Run("Keyring", func(t *testing.T) { testKeyring(t, newStore(t)) })
	t.Run("KeyringSaltForANewKeyring", func(t *testing.T) { testSaltNewKeyring(t, newStore(t)) })
	t.Run("KeyringSaltForAStoredKeyring", func(t *testing.T) { testSaltStoredKeyring(t, newStore(t)) })
	t.Run("KeyringRekeyedWithItsSalt", func(t *testing.T) { testSaltRekey(t, newStore(t)) })
	t.Run("AuditAppendIsSerialised", func(t *testing.T) { testAuditConcurrent(t, newStore(t)) })
	t.Run("AuditFailureRollsBackChange", func(t *testing.T) { testAuditRollback(t, newStore(t)) })
	t.Run("AuditBatchIsChainedAndAtomic", func(t *testing.T) { testAuditBatch(t, newStore(t)) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, newStore(t)) })
	t.Run("UsageEstimated", func(t *testing.T) { testUsageEstimated(t, newStore(t)) })
	t.Run("UsageCacheTokens", func(t *testing.T) { testUsageCacheTokens(t, newStore(t)) })
	t.Run("UsageEndpoint", func(t *testing.T) { testUsageEndpoint(t, newStore(t)) })
}

func chain(action string) store.AuditFunc {
	return func(prev *store.AuditRow) (store.AuditRow, error) {
		r := store.AuditRow{Seq: 1, Time: time.Now().UTC().Truncate(time.Millisecond), Tenant: "default", Actor: "t", Action: action, Outcome: "success", Details: "{}"}
		if prev != nil {
			r.Seq = prev.Seq + 1
			r.MAC = fmt.Sprintf("%s>%d", prev.MAC, r.Seq)
		} else {
			r.MAC = "1"
		}
		return r, nil
	}
}

func testTenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	if ok, err := s.TenantExists(ctx, store.DefaultTenant); err != nil || !ok {
		t.Fatalf("default tenant missing: %v %v", ok, err)
	}
	if err := s.CreateTenant(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, "acme", nil); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate tenant: %v", err)
	}
	ts, err := s.ListTenants(ctx)
	if err != nil || len(ts) != 2 {
		t.Fatalf("tenants = %v, %v", ts, err)
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	g0, _ := s.KeysGeneration(ctx)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	k := &store.Key{ID: "abc", Tenant: "default", Name: "n", Hash: []byte{1, 2, 3}, Scopes: []string{"llm", "tools:fs.read"},
		Models: []string{"openai/gpt-4o"}, ExpiresAt: &exp, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := s.CreateKey(ctx, k, chain("key.create")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, k, nil); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate key: %v", err)
	}
	bad := *k
	bad.ID, bad.Tenant = "x", "nope"
	if err := s.CreateKey(ctx, &bad, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key in unknown tenant: %v", err)
	}
	got, err := s.GetKey(ctx, "abc")
	if err != nil || got.Name != "n" || len(got.Scopes) != 2 || got.Models[0] != "openai/gpt-4o" || !got.ExpiresAt.Equal(exp) || string(got.Hash) != "\x01\x02\x03" {
		t.Fatalf("GetKey = %+v, %v", got, err)
	}
	if _, err := s.GetKey(ctx, "zzz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	_, err = s.UpdateKey(ctx, "abc", func(k *store.Key) error { now := time.Now(); k.RevokedAt = &now; return nil }, chain("key.revoke"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKey(ctx, "abc"); got.RevokedAt == nil || got.Active(time.Now()) {
		t.Fatal("revocation not stored")
	}
	if g1, _ := s.KeysGeneration(ctx); g1 <= g0 {
		t.Fatal("key generation did not move")
	}
	head, _ := s.AuditHead(ctx)
	if head == nil || head.Seq != 2 || head.Action != "key.revoke" {
		t.Fatalf("audit head = %+v, want the revoke as entry 2", head)
	}
}

func testProviders(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	gen := generationWatch(t, s.ProvidersGeneration)
	p := &store.Provider{Tenant: "default", Name: "openai", Type: "openai", BaseURL: "https://x", Models: []string{"a"}, Credential: "enc:v1:AAAA", CreatedAt: time.Now()}
	if err := s.PutProvider(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	gen("a new provider", true)
	p.BaseURL = "https://y"
	if err := s.PutProvider(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	gen("a changed provider", true)
	got, err := s.GetProvider(ctx, "default", "openai")
	if err != nil || got.BaseURL != "https://y" || got.Credential != "enc:v1:AAAA" {
		t.Fatalf("GetProvider = %+v %v", got, err)
	}
	if _, err := s.GetProvider(ctx, "other", "openai"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("provider visible from another tenant")
	}
	gen("reads", false)
	if err := s.ReplaceProviderCredential(ctx, "default", "openai", "enc:v1:STALE", "enc:v1:BBBB", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replace with a stale credential: %v", err)
	}
	gen("a refused credential swap", false)
	if err := s.ReplaceProviderCredential(ctx, "default", "openai", "enc:v1:AAAA", "enc:v1:BBBB", nil); err != nil {
		t.Fatal(err)
	}
	gen("a re-wrapped credential", true)
	if err := s.DeleteProvider(ctx, "default", "openai", nil); err != nil {
		t.Fatal(err)
	}
	gen("a deleted provider", true)
	if err := s.DeleteProvider(ctx, "default", "openai", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	gen("a refused delete", false)
}

// generationWatch reads a generation counter now and returns a check that
// it moved (or not) since the last check.
func generationWatch(t *testing.T, read func(context.Context) (int64, error)) func(after string, moved bool) {
	t.Helper()
	last, err := read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return func(after string, moved bool) {
		t.Helper()
		g, err := read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if (g != last) != moved {
			t.Fatalf("generation %d → %d after %s; want moved = %v", last, g, after, moved)
		}
		last = g
	}
}

func testSecrets(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	if _, err := s.GetSecret(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	v, err := s.PutSecretIfAbsent(ctx, "a", "one")
	if err != nil || v != "one" {
		t.Fatal(v, err)
	}
	if v, _ := s.PutSecretIfAbsent(ctx, "a", "two"); v != "one" {
		t.Fatalf("second writer replaced the secret: %q", v)
	}
	if err := s.ReplaceSecret(ctx, "a", "stale", "x"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale replace: %v", err)
	}
	if err := s.ReplaceSecret(ctx, "a", "one", "three"); err != nil {
		t.Fatal(err)
	}
}

func testKeyring(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	if _, _, err := s.LoadKeyring(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	wantVersion := func(want int64) {
		t.Helper()
		if v, err := s.KeyringVersion(ctx); err != nil || v != want {
			t.Fatalf("KeyringVersion = %d, %v; want %d", v, err, want)
		}
	}
	wantVersion(0)
	if err := s.SaveKeyring(ctx, []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveKeyring(ctx, []byte("b"), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	b, v, err := s.LoadKeyring(ctx)
	if err != nil || string(b) != "a" {
		t.Fatal(b, err)
	}
	wantVersion(v)
	if err := s.SaveKeyring(ctx, []byte("c"), v); err != nil {
		t.Fatal(err)
	}
	_, v2, err := s.LoadKeyring(ctx)
	if err != nil || v2 == v {
		t.Fatalf("after a save: version %d (was %d), %v", v2, v, err)
	}
	wantVersion(v2)
	if err := s.SaveKeyring(ctx, []byte("d"), v); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale CAS: %v", err)
	}
}

// A salt for a keyring yet to be created: stored while there is none,
// byte for byte; the first writer's salt stays.
func testSaltNewKeyring(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	if _, err := s.KeyringSalt(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	first := []byte{0, 1, 0xff, 0, 'a', '\'', 0x80, 0}
	if got, err := s.PutKeyringSalt(ctx, first, 0); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first salt: %x, %v", got, err)
	}
	if got, err := s.PutKeyringSalt(ctx, []byte("second"), 0); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("second writer: %x, %v; want the first salt back", got, err)
	}
	if err := s.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PutKeyringSalt(ctx, []byte("third"), 0); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("after the keyring: %x, %v; want the stored salt", got, err)
	}
	if got, err := s.KeyringSalt(ctx); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("KeyringSalt = %x, %v", got, err)
	}
}

// A keyring stored without a salt (a raw root key, or a salt kept in a
// file) takes one only at the version it was checked against: a fresh
// salt for "no keyring" must not join it.
func testSaltStoredKeyring(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	v := storedKeyring(ctx, t, s)
	for _, expect := range []int64{0, v + 1} {
		if got, err := s.PutKeyringSalt(ctx, []byte("wrong"), expect); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("salt at version %d of a keyring at %d: %q, %v; want ErrConflict", expect, v, got, err)
		}
	}
	if _, err := s.KeyringSalt(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused salt was stored: %v", err)
	}
	if got, err := s.PutKeyringSalt(ctx, []byte("checked"), v); err != nil || string(got) != "checked" {
		t.Fatalf("salt at the keyring's version: %q, %v", got, err)
	}
	if err := s.SaveKeyring(ctx, []byte("rotated"), v); err != nil {
		t.Fatal(err)
	}
	if got, err := s.KeyringSalt(ctx); err != nil || string(got) != "checked" {
		t.Fatalf("salt after a keyring save: %q, %v", got, err)
	}
}

// A rekey saves the keyring and its new root key's salt (none for a raw
// key) together; a stale version changes neither.
func testSaltRekey(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	v := storedKeyring(ctx, t, s)
	if _, err := s.PutKeyringSalt(ctx, []byte("old-salt"), v); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		blob     []byte
		salt     []byte // nil: a raw root key, no salt
		wantSalt []byte // nil: none stored
	}{
		{"passphrase to passphrase", []byte("ring-p2"), []byte{0, 'n', 0xff, 0}, []byte{0, 'n', 0xff, 0}},
		{"passphrase to raw", []byte("ring-raw"), nil, nil},
		{"raw to raw", []byte("ring-raw2"), nil, nil},
		{"raw to passphrase", []byte("ring-p3"), []byte("third-salt"), []byte("third-salt")},
	}
	for _, st := range steps {
		before, beforeSalt := keyringAndSalt(t, s)
		for _, stale := range []int64{v - 1, v + 1} {
			if err := s.SaveKeyringSalt(ctx, []byte("lost"), []byte("lost-salt"), stale); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("%s: save at stale version %d (current %d): %v; want ErrConflict", st.name, stale, v, err)
			}
			if err := s.SaveKeyringSalt(ctx, []byte("lost"), nil, stale); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("%s: clear at stale version %d (current %d): %v; want ErrConflict", st.name, stale, v, err)
			}
		}
		if ring, salt := keyringAndSalt(t, s); !bytes.Equal(ring, before) || !bytes.Equal(salt, beforeSalt) {
			t.Fatalf("%s: a refused save changed the keyring to %q and the salt to %q", st.name, ring, salt)
		}
		if err := s.SaveKeyringSalt(ctx, st.blob, st.salt, v); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		ring, salt := keyringAndSalt(t, s)
		if !bytes.Equal(ring, st.blob) || !bytes.Equal(salt, st.wantSalt) || (salt == nil) != (st.wantSalt == nil) {
			t.Fatalf("%s: keyring %q, salt %q; want %q, %q", st.name, ring, salt, st.blob, st.wantSalt)
		}
		_, nv, err := s.LoadKeyring(ctx)
		if err != nil || nv == v {
			t.Fatalf("%s: version %d after a save at %d, %v", st.name, nv, v, err)
		}
		v = nv
	}
}

// keyringAndSalt returns the stored keyring and salt (nil when none).
func keyringAndSalt(t *testing.T, s store.Store) (ring, salt []byte) {
	t.Helper()
	ring, _, err := s.LoadKeyring(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	salt, err = s.KeyringSalt(context.Background())
	if errors.Is(err, store.ErrNotFound) {
		return ring, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return ring, salt
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := s.AppendAudit(ctx, chain("x")); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var prev int64
	err := s.AuditRows(ctx, 0, func(r store.AuditRow) error {
		if r.Seq != prev+1 {
			return fmt.Errorf("seq %d after %d", r.Seq, prev)
		}
		prev = r.Seq
		return nil
	})
	if err != nil || prev != 80 {
		t.Fatalf("chain has %d entries (%v), want 80 contiguous", prev, err)
	}
}

// testAuditBatch: the rows of one AppendAudit call are chained one after
// the other from the head, and a failure of any of them appends none.
func testAuditBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	if _, err := s.AppendAudit(ctx, chain("a")); err != nil {
		t.Fatal(err)
	}
	last, err := s.AppendAudit(ctx, chain("b"), nil, chain("c"), chain("d"))
	if err != nil || last == nil || last.Seq != 4 || last.Action != "d" {
		t.Fatalf("AppendAudit(batch) = %+v, %v; want row 4, d", last, err)
	}
	failing := func(*store.AuditRow) (store.AuditRow, error) { return store.AuditRow{}, errors.New("audit down") }
	if _, err := s.AppendAudit(ctx, chain("e"), failing, chain("f")); err == nil {
		t.Fatal("a batch with a failing row succeeded")
	}
	var got []string
	err = s.AuditRows(ctx, 0, func(r store.AuditRow) error {
		got = append(got, fmt.Sprintf("%d:%s:%s", r.Seq, r.Action, r.MAC))
		return nil
	})
	want := []string{"1:a:1", "2:b:1>2", "3:c:1>2>3", "4:d:1>2>3>4"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("chain = %v (%v), want %v: rows chained in order, none of the failed batch", got, err, want)
	}
}

// CommitFailure checks what a store reports when a transaction's COMMIT
// fails: an error wrapping store.ErrCommitUnknown — on which the audit log
// does not retry the entries, as a retry after a commit that did land
// would record them twice — nothing of the transaction kept, and a store
// that goes on writing once the cause is gone. refuse makes every later
// commit of a transaction that appends an audit row fail; allow undoes it.
// The suite cannot make a commit fail without the backend's SQL, so each
// store's tests call it.
func CommitFailure(t *testing.T, s store.Store, refuse, allow func(t *testing.T)) {
	t.Helper()
	ctx := context.Background()
	defer s.Close()
	if _, err := s.AppendAudit(ctx, chain("a")); err != nil {
		t.Fatal(err)
	}
	refuse(t)
	if _, err := s.AppendAudit(ctx, chain("b"), chain("c")); !errors.Is(err, store.ErrCommitUnknown) {
		t.Fatalf("AppendAudit with its commit refused = %v; want an error wrapping store.ErrCommitUnknown", err)
	}
	k := &store.Key{ID: "k1", Tenant: "default", Name: "n", Hash: []byte{1}, CreatedAt: time.Now()}
	if err := s.CreateKey(ctx, k, chain("key.create")); !errors.Is(err, store.ErrCommitUnknown) {
		t.Fatalf("CreateKey with its commit refused = %v; want an error wrapping store.ErrCommitUnknown", err)
	}
	if _, err := s.GetKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey after a refused commit = %v; want ErrNotFound", err)
	}
	allow(t)
	if last, err := s.AppendAudit(ctx, chain("d")); err != nil || last.Seq != 2 {
		t.Fatalf("AppendAudit once commits are allowed = %+v, %v; want row 2", last, err)
	}
	var got []string
	err := s.AuditRows(ctx, 0, func(r store.AuditRow) error {
		got = append(got, fmt.Sprintf("%d:%s:%s", r.Seq, r.Action, r.MAC))
		return nil
	})
	if want := []string{"1:a:1", "2:d:1>2"}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("chain = %v (%v), want %v: nothing of the refused commits", got, err, want)
	}
}

func testAuditRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	failing := func(*store.AuditRow) (store.AuditRow, error) { return store.AuditRow{}, errors.New("audit down") }
	k := &store.Key{ID: "k1", Tenant: "default", Name: "n", Hash: []byte{1}, CreatedAt: time.Now()}
	if err := s.CreateKey(ctx, k, failing); err == nil {
		t.Fatal("create succeeded without its audit entry")
	}
	if _, err := s.GetKey(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("key stored although its audit entry failed")
	}
}

func testUsage(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now, KeyID: "a", Tenant: "default", Model: "m", PromptTokens: 10, CompletionTokens: 5, CostMicros: 100, Status: 200},
		{Time: now, KeyID: "a", Tenant: "default", Model: "m", PromptTokens: 1, CompletionTokens: 1, CostMicros: 1, Status: 500},
		{Time: now.Add(-48 * time.Hour), KeyID: "b", Tenant: "t2", Model: "m", CostMicros: 7, Status: 200},
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SummariseUsage(ctx, store.UsageFilter{KeyID: "a"})
	if err != nil || len(sum) != 1 || sum[0].Requests != 2 || sum[0].CostMicros != 101 || sum[0].Errors != 1 || sum[0].PromptTokens != 11 {
		t.Fatalf("summary = %+v %v", sum, err)
	}
	sum, _ = s.SummariseUsage(ctx, store.UsageFilter{Since: now.Add(-time.Hour)})
	if len(sum) != 1 {
		t.Fatalf("since filter: %+v", sum)
	}
	// A call's cost saturates at MaxInt64 rather than wrapping; two such
	// rows made every summary fail ("integer overflow", "bigint out of
	// range"), other keys' included. Their sum saturates too; other sums
	// are exact.
	huge := []store.Usage{
		{Time: now, RequestID: "r1", KeyID: "c", Tenant: "default", Model: "m", PromptTokens: 1 << 62, CompletionTokens: 1 << 62,
			CachedTokens: 1 << 62, CacheWriteTokens: 1 << 62, CacheWrite1hTokens: 1 << 62, CostMicros: math.MaxInt64, Status: 200, Estimated: true},
		{Time: now, RequestID: "r2", KeyID: "c", Tenant: "default", Model: "m", PromptTokens: 1 << 62, CompletionTokens: 1 << 62,
			CachedTokens: 1 << 62, CacheWriteTokens: 1 << 62, CacheWrite1hTokens: 1 << 62, CostMicros: math.MaxInt64, Status: 200, Estimated: true},
	}
	if err := s.InsertUsage(ctx, huge); err != nil {
		t.Fatal(err)
	}
	sum, err = s.SummariseUsage(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatalf("summary with saturated costs: %v", err)
	}
	for _, u := range sum {
		switch u.KeyID {
		case "c":
			if u.CostMicros != math.MaxInt64 || u.PromptTokens != math.MaxInt64 || u.CompletionTokens != math.MaxInt64 ||
				u.CachedTokens != math.MaxInt64 || u.CacheWriteTokens != math.MaxInt64 || u.CacheWrite1hTokens != math.MaxInt64 ||
				u.EstimatedRequests != 2 || u.EstimatedPromptTokens != math.MaxInt64 || u.EstimatedCompletionTokens != math.MaxInt64 {
				t.Errorf("saturated rows summed to %+v", u)
			}
		case "a":
			if u.CostMicros != 101 {
				t.Errorf("other key's sum %+v", u)
			}
		}
	}
}

// testUsageEstimated: a row keeps whether its tokens were estimated, and
// summaries count the estimated rows and their tokens apart from the
// upstream-reported ones.
func testUsageEstimated(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now, RequestID: "r1", KeyID: "k", Tenant: "default", Model: "m", PromptTokens: 100, CompletionTokens: 20, Status: 200, Stream: true},
		{Time: now, RequestID: "r2", KeyID: "k", Tenant: "default", Model: "m", PromptTokens: 30, CompletionTokens: 7, Status: 502, Stream: true, Estimated: true},
		{Time: now, RequestID: "r3", KeyID: "k", Tenant: "default", Model: "m", PromptTokens: 5, CompletionTokens: 1, Status: 499, Estimated: true},
		{Time: now, RequestID: "r4", KeyID: "k", Tenant: "default", Model: "n", PromptTokens: 9, CompletionTokens: 9, Status: 200},
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	want := []store.UsageSummary{
		{KeyID: "k", Model: "m", Requests: 3, PromptTokens: 135, CompletionTokens: 28, Errors: 2,
			EstimatedRequests: 2, EstimatedPromptTokens: 35, EstimatedCompletionTokens: 8},
		{KeyID: "k", Model: "n", Requests: 1, PromptTokens: 9, CompletionTokens: 9},
	}
	checkSummary(t, s, store.UsageFilter{KeyID: "k"}, want)
}

// testUsageCacheTokens: a row keeps its cache reads, its cache writes and
// the part of the writes with a one-hour TTL (Anthropic bills those at
// twice the input price, the five-minute rest at 1.25×), so a row's cost
// can be explained from its tokens; summaries sum each apart.
func testUsageCacheTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now, RequestID: "r1", KeyID: "k", Tenant: "default", Model: "claude", PromptTokens: 5000, CompletionTokens: 10,
			CachedTokens: 1000, CacheWriteTokens: 3000, CacheWrite1hTokens: 2000, CostMicros: 9, Status: 200},
		{Time: now, RequestID: "r2", KeyID: "k", Tenant: "default", Model: "claude", PromptTokens: 700, CompletionTokens: 5,
			CachedTokens: 100, CacheWriteTokens: 500, CacheWrite1hTokens: 500, CostMicros: 2, Status: 200},
		{Time: now, RequestID: "r3", KeyID: "k", Tenant: "default", Model: "gpt", PromptTokens: 40, CachedTokens: 30, Status: 200},
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	want := []store.UsageSummary{
		{KeyID: "k", Model: "claude", Requests: 2, PromptTokens: 5700, CompletionTokens: 15,
			CachedTokens: 1100, CacheWriteTokens: 3500, CacheWrite1hTokens: 2500, CostMicros: 11},
		{KeyID: "k", Model: "gpt", Requests: 1, PromptTokens: 40, CachedTokens: 30},
	}
	checkSummary(t, s, store.UsageFilter{KeyID: "k"}, want)
}

// testUsageEndpoint: a row keeps the endpoint it was for, so a refused
// count's 429 is told from a refused call's; summaries group by it, and
// filter on it.
func testUsageEndpoint(t *testing.T, s store.Store) {
	ctx := context.Background()
	defer s.Close()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now, RequestID: "r1", KeyID: "k", Tenant: "default", Model: "m", Endpoint: "messages", PromptTokens: 10, Status: 200},
		{Time: now, RequestID: "r2", KeyID: "k", Tenant: "default", Model: "m", Endpoint: "messages", Status: 429},
		{Time: now, RequestID: "r3", KeyID: "k", Tenant: "default", Model: "m", Endpoint: "messages.count_tokens", Status: 429},
		{Time: now, RequestID: "r4", KeyID: "k", Tenant: "default", Model: "m", PromptTokens: 3, Status: 200}, // written before endpoints were stored
		{Time: now, RequestID: "r5", KeyID: "k2", Tenant: "default", Model: "m", Endpoint: "gemini.countTokens", Status: 429},
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.UsageFilter
		want []store.UsageSummary
	}{
		{"grouped by endpoint", store.UsageFilter{KeyID: "k"}, []store.UsageSummary{
			{KeyID: "k", Model: "m", Requests: 1, PromptTokens: 3},
			{KeyID: "k", Model: "m", Endpoint: "messages", Requests: 2, PromptTokens: 10, Errors: 1},
			{KeyID: "k", Model: "m", Endpoint: "messages.count_tokens", Requests: 1, Errors: 1},
		}},
		{"one endpoint", store.UsageFilter{Endpoint: "messages.count_tokens"}, []store.UsageSummary{
			{KeyID: "k", Model: "m", Endpoint: "messages.count_tokens", Requests: 1, Errors: 1},
		}},
		{"endpoint and key", store.UsageFilter{KeyID: "k", Endpoint: "gemini.countTokens"}, nil},
		{"another key's endpoint", store.UsageFilter{Endpoint: "gemini.countTokens"}, []store.UsageSummary{
			{KeyID: "k2", Model: "m", Endpoint: "gemini.countTokens", Requests: 1, Errors: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkSummary(t, s, tt.f, tt.want) })
	}
}

// checkSummary summarises the usage f selects and compares it, group by
// group in the stores' order, with want.
func checkSummary(t *testing.T, s store.Store, f store.UsageFilter, want []store.UsageSummary) {
	t.Helper()
	sum, err := s.SummariseUsage(context.Background(), f)
	if err != nil || len(sum) != len(want) {
		t.Fatalf("summary = %+v %v; want %+v", sum, err, want)
	}
	for i := range want {
		if sum[i] != want[i] {
			t.Errorf("summary[%d] = %+v, want %+v", i, sum[i], want[i])
		}
	}
}

// UpgradeRow is the row a store upgraded from an older schema is written
// after its upgrade: estimated, with one-hour cache writes, for an
// endpoint.
func UpgradeRow() store.Usage {
	return store.Usage{Time: time.Now(), RequestID: "new", Tenant: "t", KeyID: "k", Model: "m", Endpoint: "messages",
		PromptTokens: 4, CompletionTokens: 2, CacheWriteTokens: 3, CacheWrite1hTokens: 2, Status: 502, Stream: true, Estimated: true}
}

// UpgradedRow is what a test reads back from the usage table of an
// upgraded store, by request id: the columns later migrations added.
type UpgradedRow struct {
	Estimated          bool
	CacheWrite1hTokens int64
	Endpoint           string
}

// CheckUpgradedUsage checks a store upgraded with one row an older version
// wrote ("old", key "k", 7 prompt tokens, no cache writes) and UpgradeRow
// after it. got is the usage table read by request id: the old row reads
// the added columns' defaults (not estimated, no one-hour writes, no
// endpoint), the new row keeps what it was written with, and the summary
// counts both, the old row under the endpoint "".
func CheckUpgradedUsage(ctx context.Context, t *testing.T, s store.Store, got map[string]UpgradedRow) {
	t.Helper()
	n := UpgradeRow()
	want := map[string]UpgradedRow{"old": {}, "new": {Estimated: true, CacheWrite1hTokens: n.CacheWrite1hTokens, Endpoint: n.Endpoint}}
	if len(got) != len(want) || got["old"] != want["old"] || got["new"] != want["new"] {
		t.Fatalf("rows after upgrade: %+v; want %+v", got, want)
	}
	sum, err := s.SummariseUsage(ctx, store.UsageFilter{KeyID: "k"})
	if err != nil || len(sum) != 2 || sum[0].Endpoint != "" || sum[0].Requests != 1 || sum[0].PromptTokens != 7 ||
		sum[0].EstimatedRequests != 0 || sum[1].Endpoint != n.Endpoint || sum[1].Requests != 1 || sum[1].PromptTokens != n.PromptTokens ||
		sum[1].EstimatedRequests != 1 || sum[1].EstimatedPromptTokens != n.PromptTokens ||
		sum[1].CacheWriteTokens != n.CacheWriteTokens || sum[1].CacheWrite1hTokens != n.CacheWrite1hTokens {
		t.Fatalf("summary after upgrade: %+v %v", sum, err)
	}
}

// storedKeyring saves a first keyring and returns its version.
func storedKeyring(ctx context.Context, t *testing.T, s store.Store) int64 {
	t.Helper()
	if err := s.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	_, v, err := s.LoadKeyring(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// CheckUpgradedProviders checks a store just upgraded past the providers
// generation's migration: the provider name stored before the upgrade is
// kept (with baseURL), and deleting it moves the new counter.
func CheckUpgradedProviders(ctx context.Context, t *testing.T, s store.Store, name, baseURL string) {
	t.Helper()
	gen := generationWatch(t, s.ProvidersGeneration)
	if got, err := s.GetProvider(ctx, store.DefaultTenant, name); err != nil || got.BaseURL != baseURL {
		t.Fatalf("provider after upgrade: %+v, %v", got, err)
	}
	if err := s.DeleteProvider(ctx, store.DefaultTenant, name, nil); err != nil {
		t.Fatal(err)
	}
	gen("a delete after the upgrade", true)
}
