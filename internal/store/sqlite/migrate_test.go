package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
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
	for _, q := range []string{"CREATE INDEX usage_key_ts ON usage(key_id, ts)", "CREATE INDEX usage_tenant_ts ON usage(tenant, ts)", "PRAGMA user_version = 1"} {
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
