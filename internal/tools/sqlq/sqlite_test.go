package sqlq

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newSQLite creates a database with 100 rows in items and returns its path
// and a separate read-write handle for checking that nothing changed.
func newSQLite(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	rw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rw.Close() })
	stmts := []string{
		"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)",
		"PRAGMA user_version = 1",
	}
	values := make([]string, 0, 100)
	for i := 1; i <= 100; i++ {
		values = append(values, fmt.Sprintf("(%d, 'item-%03d', x'00ff')", i, i))
	}
	stmts = append(stmts, "INSERT INTO items (id, name, blob) VALUES "+strings.Join(values, ","))
	for _, s := range stmts {
		if _, err := rw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return path, rw
}

func openSQLite(t *testing.T, path string, cfg Config) *DB {
	t.Helper()
	cfg.Databases = map[string]DatabaseConfig{"app": {Driver: DriverSQLite, Path: path}}
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSQLiteSelect(t *testing.T) {
	path, _ := newSQLite(t)
	d := openSQLite(t, path, Config{})
	res, err := d.Query(context.Background(), "app", "SELECT id, name, blob FROM items WHERE id <= ? ORDER BY id", 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Columns, ",") != "id,name,blob" || len(res.Rows) != 2 || res.Truncated {
		t.Fatalf("result = %+v", res)
	}
	if res.Rows[1][0] != int64(2) || res.Rows[1][1] != "item-002" {
		t.Fatalf("row = %#v", res.Rows[1])
	}
	if b, ok := res.Rows[0][2].([]byte); !ok || len(b) != 2 {
		t.Fatalf("binary column = %#v", res.Rows[0][2])
	}
	if _, err := d.Query(context.Background(), "other", "SELECT 1"); !errors.Is(err, ErrUnknownDB) {
		t.Fatalf("unknown database: %v", err)
	}
	if got := d.Names(); len(got) != 1 || got[0] != "app" {
		t.Fatalf("Names = %v", got)
	}
}

// writes are the statements a model might try; the list drives both the
// early refusal (Query) and the database-level refusal (run, which skips
// ValidateQuery).
var writes = []string{
	"INSERT INTO items (id, name) VALUES (1000, 'x')",
	"UPDATE items SET name = 'pwned'",
	"DELETE FROM items",
	"CREATE TABLE evil (x)",
	"DROP TABLE items",
	"ATTACH DATABASE '%s' AS evil",
	"PRAGMA user_version = 99",
	"SELECT load_extension('/tmp/evil.so')",
	"WITH x AS (SELECT 1) INSERT INTO items (id, name) SELECT 2000, 'x' FROM x",
	"REPLACE INTO items (id, name) VALUES (1, 'pwned')",
	"VACUUM INTO '%s'",
}

func TestSQLiteWritesRefused(t *testing.T) {
	path, rw := newSQLite(t)
	d := openSQLite(t, path, Config{})
	outside := filepath.Join(t.TempDir(), "evil.db")
	ctx := context.Background()
	for _, w := range writes {
		q := w
		if strings.Contains(q, "%s") {
			q = fmt.Sprintf(q, outside)
		}
		t.Run(q, func(t *testing.T) {
			if _, err := d.Query(ctx, "app", q); !errors.Is(err, ErrRefused) {
				t.Fatalf("Query = %v, want ErrRefused", err)
			}
			// Past the parser, the read-only connection must still refuse.
			if res, err := d.run(ctx, "app", q, nil); err == nil {
				t.Fatalf("database accepted %q: %+v", q, res)
			}
		})
	}
	var n, version int
	var name string
	rw.QueryRow("SELECT count(*) FROM items").Scan(&n)
	rw.QueryRow("SELECT name FROM items WHERE id = 1").Scan(&name)
	rw.QueryRow("PRAGMA user_version").Scan(&version)
	if n != 100 || name != "item-001" || version != 1 {
		t.Fatalf("database changed: count=%d name=%q version=%d", n, name, version)
	}
	if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("ATTACH/VACUUM INTO created a file")
	}
	// A PRAGMA that only changes connection state must not outlive its
	// own statement: the next query gets a fresh, query_only connection.
	for _, q := range []string{"PRAGMA query_only = 0", "PRAGMA journal_mode = WAL"} {
		if _, err := d.Query(ctx, "app", q); !errors.Is(err, ErrRefused) {
			t.Fatalf("Query(%q) = %v, want ErrRefused", q, err)
		}
		d.run(ctx, "app", q, nil)
		if _, err := d.run(ctx, "app", "CREATE TEMP TABLE t (x)", nil); err == nil {
			t.Fatalf("after %q a connection was left writable", q)
		}
	}
	var mode string
	rw.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "delete" {
		t.Fatalf("journal mode changed to %q", mode)
	}
	var tables int
	rw.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'evil'").Scan(&tables)
	if tables != 0 {
		t.Fatal("table evil was created")
	}
}

func TestSQLiteCaps(t *testing.T) {
	path, _ := newSQLite(t)
	tests := []struct {
		name      string
		cfg       Config
		q         string
		rows      int
		truncated bool
	}{
		{"row cap", Config{MaxRows: 10}, "SELECT * FROM items", 10, true},
		{"under row cap", Config{MaxRows: 1000}, "SELECT * FROM items", 100, false},
		{"byte cap", Config{MaxBytes: 200}, "SELECT name FROM items", 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openSQLite(t, path, tt.cfg)
			res, err := d.Query(context.Background(), "app", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != tt.rows || res.Truncated != tt.truncated {
				t.Fatalf("rows=%d truncated=%v, want %d %v", len(res.Rows), res.Truncated, tt.rows, tt.truncated)
			}
		})
	}
}

func TestSQLiteTimeout(t *testing.T) {
	path, _ := newSQLite(t)
	d := openSQLite(t, path, Config{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := d.Query(context.Background(), "app",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("runaway query = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("timeout took %v", el)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		dc   DatabaseConfig
	}{
		{"unknown driver", DatabaseConfig{Driver: "mysql", DSN: "x"}},
		{"sqlite without path", DatabaseConfig{Driver: DriverSQLite}},
		{"postgres without dsn", DatabaseConfig{Driver: DriverPostgres}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(Config{Databases: map[string]DatabaseConfig{"x": tt.dc}})
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Open = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestSQLiteErrorKinds(t *testing.T) {
	path, _ := newSQLite(t)
	d := openSQLite(t, path, Config{})
	ctx := context.Background()
	if _, err := d.Query(ctx, "app", "SELECT nope FROM items"); !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown column = %v, want ErrQuery naming the column", err)
	}
	absent := filepath.Join(t.TempDir(), "absent.db")
	missing := openSQLite(t, absent, Config{})
	_, err := missing.Query(ctx, "app", "SELECT 1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("missing database file = %v, want ErrUnavailable", err)
	}
	if _, statErr := os.Stat(absent); statErr == nil {
		t.Fatal("read-only open created a database file")
	}
}
