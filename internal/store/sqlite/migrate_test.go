package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/storetest"
)

// A database made before migration 0002 (schema version 1, usage indexes
// present) is upgraded on open: the indexes go, the rows stay.
func TestUpgradeDropsUsageIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertUsage(ctx, []store.Usage{{Time: time.Now(), RequestID: "r", Tenant: "t", KeyID: "k", Model: "m", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE INDEX usage_key_ts ON usage(key_id, ts)", "CREATE INDEX usage_tenant_ts ON usage(tenant, ts)",
		"ALTER TABLE usage DROP COLUMN endpoint", "ALTER TABLE usage DROP COLUMN cache_write_1h_tokens", "ALTER TABLE usage DROP COLUMN estimated",
		"DROP TABLE keyring_salt", "PRAGMA user_version = 1"} {
		if _, err := s.wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("usage indexes after upgrade: %d (%v)", n, err)
	}
	sum, err := s.SummariseUsage(ctx, store.UsageFilter{KeyID: "k"})
	if err != nil || len(sum) != 1 || sum[0].Requests != 1 {
		t.Fatalf("rows after upgrade: %+v %v", sum, err)
	}
}

// A database made before migration 0003 (no estimated column), 0004 (no
// one-hour cache-write column) or 0006 (no endpoint column) is upgraded
// on open: its rows stay and read the added columns' defaults, and new
// rows keep what they are written with.
func TestUpgradeAddsUsageColumns(t *testing.T) {
	tests := []struct {
		name    string
		version int
		drop    []string // the columns that version's schema lacks
		cols    string   // and the columns its binary wrote beyond the first schema's
		vals    string
	}{
		{"from version 2", 2, []string{"endpoint", "cache_write_1h_tokens", "estimated"}, "", ""},
		{"from version 3", 3, []string{"endpoint", "cache_write_1h_tokens"}, ", estimated", ", 0"},
		{"from version 5", 5, []string{"endpoint"}, ", estimated, cache_write_1h_tokens", ", 0, 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "old.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			var qs []string
			if tt.version < 5 {
				qs = append(qs, "DROP TABLE keyring_salt")
			}
			for _, c := range tt.drop {
				qs = append(qs, "ALTER TABLE usage DROP COLUMN "+c)
			}
			qs = append(qs, fmt.Sprintf("PRAGMA user_version = %d", tt.version),
				// A row as that version's binary wrote it.
				`INSERT INTO usage(ts, request_id, tenant, key_id, model, provider, deployment, prompt_tokens, completion_tokens,
				cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms, status, stream`+tt.cols+`)
				VALUES (0, 'old', 't', 'k', 'm', 'p', 'd', 7, 3, 0, 0, 0, 1, 5, 1, 200, 1`+tt.vals+`)`)
			s = reopenAfter(ctx, t, s, path, qs)
			if err := s.InsertUsage(ctx, []store.Usage{storetest.UpgradeRow()}); err != nil {
				t.Fatal(err)
			}
			storetest.CheckUpgradedUsage(ctx, t, s, readUpgraded(ctx, t, s))
		})
	}
}

// readUpgraded reads the columns later migrations added, by request id.
func readUpgraded(ctx context.Context, t *testing.T, s *Store) map[string]storetest.UpgradedRow {
	t.Helper()
	rows, err := s.db.QueryContext(ctx, "SELECT request_id, estimated, cache_write_1h_tokens, endpoint FROM usage")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]storetest.UpgradedRow{}
	for rows.Next() {
		var id string
		var r storetest.UpgradedRow
		if err := rows.Scan(&id, &r.Estimated, &r.CacheWrite1hTokens, &r.Endpoint); err != nil {
			t.Fatal(err)
		}
		got[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// latestVersion is the schema version this binary migrates to.
const latestVersion = 7

// reopenAfter runs qs (which make the database an older version's) on s,
// closes it and opens path again, checking that the open migrated it to
// latestVersion. The store returned is closed when the test ends.
func reopenAfter(ctx context.Context, t *testing.T, s *Store, path string, qs []string) *Store {
	t.Helper()
	for _, q := range qs {
		if _, err := s.wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != latestVersion {
		t.Fatalf("user_version after upgrade: %d (%v)", version, err)
	}
	return s
}

// A database made before migration 0005 (schema version 4, a keyring
// whose passphrase salt was kept in a file) gains the salt table on open;
// the keyring is untouched and takes the salt at its version.
func TestUpgradeAddsKeyringSalt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	s = reopenAfter(ctx, t, s, path, []string{"ALTER TABLE usage DROP COLUMN endpoint", "DROP TABLE keyring_salt", "PRAGMA user_version = 4"})
	blob, v, err := s.LoadKeyring(ctx)
	if err != nil || string(blob) != "ring" {
		t.Fatalf("keyring after upgrade: %q, %v", blob, err)
	}
	if _, err := s.KeyringSalt(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("salt after upgrade: %v; want none yet", err)
	}
	if got, err := s.PutKeyringSalt(ctx, []byte("from-the-file"), v); err != nil || string(got) != "from-the-file" {
		t.Fatalf("import: %q, %v", got, err)
	}
}

// A salt write that fails after the keyring was updated rolls the keyring
// back too: a keyring is never left wrapped under a key whose salt is not
// the stored one (the store refuses the salt write here with a trigger).
func TestSaveKeyringSaltIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutKeyringSalt(ctx, []byte("old-salt"), 1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TRIGGER no_insert BEFORE INSERT ON keyring_salt BEGIN SELECT RAISE(ABORT, 'salt write refused'); END",
		"CREATE TRIGGER no_update BEFORE UPDATE ON keyring_salt BEGIN SELECT RAISE(ABORT, 'salt write refused'); END",
		"CREATE TRIGGER no_delete BEFORE DELETE ON keyring_salt BEGIN SELECT RAISE(ABORT, 'salt write refused'); END",
	} {
		if _, err := s.wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
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

// A database made before migration 0007 (schema version 6: no providers
// generation) gains the counter and its triggers on open; a provider
// stored before is kept, and changes after the upgrade move the counter.
func TestUpgradeAddsProvidersGeneration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Provider{Tenant: store.DefaultTenant, Name: "up", Type: "openai", BaseURL: "https://x", CreatedAt: time.Now()}
	if err := s.PutProvider(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	s = reopenAfter(ctx, t, s, path, []string{"DROP TRIGGER providers_generation_insert", "DROP TRIGGER providers_generation_update",
		"DROP TRIGGER providers_generation_delete", "DELETE FROM meta WHERE name = 'providers_generation'", "PRAGMA user_version = 6"})
	storetest.CheckUpgradedProviders(ctx, t, s, "up", "https://x")
}
