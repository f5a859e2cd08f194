package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestAuditedWritesAreFullySynced pins the durability settings that make
// an audit entry durable before its action is acknowledged: a process kill
// alone cannot tell synchronous=FULL from OFF, so assert the pragmas.
func TestAuditedWritesAreFullySynced(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wsync, rsync int
	var mode string
	if err := s.wdb.QueryRow("PRAGMA synchronous").Scan(&wsync); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow("PRAGMA synchronous").Scan(&rsync); err != nil {
		t.Fatal(err)
	}
	if err := s.wdb.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if wsync != 2 || mode != "wal" {
		t.Fatalf("audited write handle: synchronous=%d journal=%s, want 2 (FULL) and wal", wsync, mode)
	}
	if rsync < 1 {
		t.Fatalf("read/usage handle: synchronous=%d, want ≥ 1", rsync)
	}
}
