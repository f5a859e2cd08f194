package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
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

// The usage connection is opened outside database/sql, so it does not get
// the handles' DSN pragmas: it must set the same ones itself — usage rows
// at synchronous=NORMAL under WAL, foreign keys on, and the busy timeout.
func TestUsageConnPragmas(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.usageConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name string
		want int64
	}{{"synchronous", 1}, {"foreign_keys", 1}, {"busy_timeout", busyTimeoutMS}} {
		if got := pragmaInt(t, c, p.name); got != p.want {
			t.Errorf("usage connection: PRAGMA %s = %d, want %d", p.name, got, p.want)
		}
	}
	if got := pragmaText(t, c, "journal_mode"); got != "wal" {
		t.Errorf("usage connection: journal_mode %q, want wal", got)
	}
}

func pragmaInt(t *testing.T, c *usageConn, name string) int64 {
	t.Helper()
	var v int64
	pragma(t, c, name, func(st uintptr) { v = sqlite3.Xsqlite3_column_int64(c.tls, st, 0) })
	return v
}

func pragmaText(t *testing.T, c *usageConn, name string) string {
	t.Helper()
	var v string
	pragma(t, c, name, func(st uintptr) { v = libc.GoString(sqlite3.Xsqlite3_column_text(c.tls, st, 0)) })
	return v
}

func pragma(t *testing.T, c *usageConn, name string, read func(st uintptr)) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.prepare("PRAGMA " + name)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite3.Xsqlite3_finalize(c.tls, st)
	if rc := sqlite3.Xsqlite3_step(c.tls, st); rc != sqlite3.SQLITE_ROW {
		t.Fatalf("PRAGMA %s: %v", name, c.errorf(rc, "step"))
	}
	read(st)
}
