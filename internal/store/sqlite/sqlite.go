// Package sqlite implements store.Store on an embedded SQLite database
// (pure-Go driver, WAL). Two handles share the file: one for reads, and one
// serialised handle with synchronous=FULL for writes that are audited, so
// an audit entry is on disk before the action it records is acknowledged.
// Usage rows, written once per request, go through a connection of their
// own opened on the SQLite library directly (usageConn). Several processes (the
// CLI and a running serve) may use the same file at once.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/bulwarkhq/bulwark/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a SQLite-backed store.Store, safe for concurrent use.
type Store struct {
	db  *sql.DB // reads
	wdb *sql.DB // audited writes: one connection, synchronous=FULL
	// audit holds the chain's statements, prepared on wdb.
	audit *auditStmts
	path  string
	// usage is the connection usage batches are written on, opened on the
	// first batch (see usageConn).
	umu     sync.Mutex
	usage   *usageConn
	uclosed bool // Close ran: no usage connection is opened again
}

var _ store.Store = (*Store)(nil)

// FileName is the database file inside the data directory.
const FileName = "bulwark.db"

// Open opens (creating if needed) the database at path and applies
// migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// SQLite creates a missing file under the umask (0644 by default) and
	// its -wal and -shm files with the database file's mode: create it
	// owner-only first, so no other user can read keys' hashes, audit or
	// usage.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs, "NORMAL"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(8)
	wdb, err := sql.Open("sqlite", dsn(abs, "FULL"))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	s := &Store{db: db, wdb: wdb, path: abs}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if s.audit, err = prepareAudit(ctx, wdb); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func dsn(path, sync string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Set("_txlock", "immediate")
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

// uriPath escapes what a SQLite URI reads as syntax in a file name: "%"
// (an escape), "?" (the query) and "#" (a fragment). Unescaped, a data
// directory named "a#b" made the driver open the file "a" — outside the
// directory, created under the umask.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// Close closes the handles and the usage connection.
func (s *Store) Close() error {
	s.umu.Lock()
	var uerr error
	if s.usage != nil {
		uerr = s.usage.close()
		s.usage = nil
	}
	s.uclosed = true
	s.umu.Unlock()
	var aerr error
	if s.audit != nil {
		aerr = s.audit.close()
	}
	return errors.Join(uerr, aerr, s.db.Close(), s.wdb.Close())
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	sort.Strings(names)
	for i, name := range names {
		if i < version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// writeTx runs fn in an immediate, durable transaction on the write handle.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	// Deferred, so that a panic in fn does not leave the transaction —
	// and with it the only write connection — held; after Commit it does
	// nothing.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w: %w", store.ErrCommitUnknown, err)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMillis(n.Int64)
	return &t
}

func joinList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

func splitList(s string) []string {
	var v []string
	if s == "" || json.Unmarshal([]byte(s), &v) != nil {
		return nil
	}
	return v
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
