package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
	"github.com/bulwarkhq/bulwark/internal/store/storetest"
)

func open(t *testing.T) store.Store { return openTB(t) }

func openTB(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path) // migrations must not re-run
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, _ := s.TenantExists(ctx, "acme"); !ok {
		t.Fatal("data lost on reopen")
	}
}

func TestTwoHandlesOnOneFile(t *testing.T) {
	// The CLI and serve open the same file from two processes; two stores
	// in one process exercise the same locking.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateTenant(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.TenantExists(ctx, "x"); !ok {
		t.Fatal("second handle does not see the write")
	}
}

// The database and its WAL and shared-memory files are created readable by
// their owner only, whatever the umask.
func TestFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InsertUsage(context.Background(), []store.Usage{{RequestID: "r", Tenant: "default", KeyID: "k", Model: "m"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// commitRefuser opens a second handle on the database at path and returns
// functions that make every commit appending an audit row fail — a
// trigger breaks a deferred foreign key, which SQLite checks only at
// COMMIT — and that undo it.
func commitRefuser(t *testing.T, path string) (refuse, allow func(t *testing.T)) {
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(15000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	exec := func(t *testing.T, q string) {
		t.Helper()
		if _, err := raw.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	refuse = func(t *testing.T) {
		exec(t, `CREATE TABLE IF NOT EXISTS commit_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE IF NOT EXISTS commit_child (p INTEGER REFERENCES commit_parent(id) DEFERRABLE INITIALLY DEFERRED);
			CREATE TRIGGER refuse_commit AFTER INSERT ON audit_events BEGIN INSERT INTO commit_child VALUES (-1); END;`)
	}
	allow = func(t *testing.T) { exec(t, `DROP TRIGGER refuse_commit`) }
	return refuse, allow
}

// TestFailedCommitIsReportedAsUnknown: a COMMIT that fails is reported as
// store.ErrCommitUnknown, leaves nothing behind, and leaves the write
// connection usable.
func TestFailedCommitIsReportedAsUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	refuse, allow := commitRefuser(t, path)
	storetest.CommitFailure(t, s, refuse, allow)
}

// TestAuditLogOverARefusedCommit: an entry whose commit failed is reported
// to its caller and is not in the chain, and the log goes on chaining from
// the last entry that is, so the chain verifies.
func TestAuditLogOverARefusedCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refuse, allow := commitRefuser(t, path)
	l, err := audit.New(s, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	event := func(action string) audit.Event {
		return audit.Event{Tenant: "default", Actor: "t", Action: action, Target: "x"}
	}
	if err := l.Append(ctx, event("first")); err != nil {
		t.Fatal(err)
	}
	refuse(t)
	if err := l.Append(ctx, event("refused")); !errors.Is(err, store.ErrCommitUnknown) {
		t.Fatalf("Append with its commit refused = %v; want an error wrapping store.ErrCommitUnknown", err)
	}
	allow(t)
	if err := l.Append(ctx, event("after")); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx, nil)
	if err != nil || rep.Entries != 2 {
		t.Fatalf("Verify = %+v, %v; want the 2 entries that committed, chained", rep, err)
	}
}
