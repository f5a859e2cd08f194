// Package sqlq implements Bulwark's sql_query tool: read-only queries
// against databases the operator configured by name (never a DSN from a
// caller). Read-only is enforced by the database itself — SQLite is opened
// with mode=ro and PRAGMA query_only, PostgreSQL runs every query in a
// READ ONLY transaction (and the operator must use a read-only role) — while
// ValidateQuery refuses writes, ATTACH, PRAGMA and extension loading early
// with a clear error. Every query has a statement timeout and row and byte
// caps.
package sqlq

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on.
var (
	ErrRefused       = errors.New("query refused")
	ErrUnknownDB     = errors.New("unknown database")
	ErrTimeout       = errors.New("query timed out")
	ErrInvalidConfig = errors.New("invalid sql tool configuration")
	// ErrQuery wraps an error the database raised while running the
	// caller's query (syntax, unknown table, type error); its text is about
	// the caller's own input and may be shown to the caller.
	ErrQuery = errors.New("query failed")
	// ErrUnavailable wraps a failure to reach or set up the database; its
	// cause (host names, roles) is for the server log only.
	ErrUnavailable = errors.New("database unavailable")
)

// Drivers supported in DatabaseConfig.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// DatabaseConfig is one entry of tools.sql.databases.
type DatabaseConfig struct {
	// Driver is "sqlite" or "postgres".
	Driver string `json:"driver" yaml:"driver"`
	// Path is the SQLite database file (driver sqlite).
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// DSN is the PostgreSQL connection string (driver postgres); it should
	// name a role that has only SELECT privileges.
	DSN string `json:"dsn,omitempty" yaml:"dsn,omitempty"`
}

// Config configures the tool. Zero caps take defaults.
type Config struct {
	Databases map[string]DatabaseConfig
	MaxRows   int           // default 1000
	MaxBytes  int64         // approximate result size; default 1 MiB
	Timeout   time.Duration // per statement; default 10s
}

// Result is a query result, ready to encode as JSON.
type Result struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"` // a row or byte cap cut the result
}

// DB holds the configured databases. It is safe for concurrent use.
type DB struct {
	cfg Config
	dbs map[string]*database
}

type database struct {
	driver string
	db     *sql.DB
}

// Open validates cfg and opens every configured database (lazily: no
// connection is made until the first query).
func Open(cfg Config) (*DB, error) {
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 1000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	d := &DB{cfg: cfg, dbs: map[string]*database{}}
	for name, dc := range cfg.Databases {
		db, err := openOne(dc)
		if err != nil {
			_ = d.Close() // the open failure is what the caller needs
			return nil, fmt.Errorf("sqlq: database %q: %w", name, err)
		}
		d.dbs[name] = db
	}
	return d, nil
}

func openOne(dc DatabaseConfig) (*database, error) {
	switch dc.Driver {
	case DriverSQLite:
		if dc.Path == "" {
			return nil, fmt.Errorf("%w: sqlite needs a path", ErrInvalidConfig)
		}
		abs, err := filepath.Abs(dc.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_defensive=1&_pragma=query_only(1)&_pragma=trusted_schema(0)"}).String()
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.SetMaxOpenConns(4)
		// No idle connections: a connection whose state a query changed
		// (say PRAGMA query_only=0 sneaking past the parser) dies with it.
		db.SetMaxIdleConns(0)
		return &database{driver: DriverSQLite, db: db}, nil
	case DriverPostgres:
		if dc.DSN == "" {
			return nil, fmt.Errorf("%w: postgres needs a dsn", ErrInvalidConfig)
		}
		db, err := sql.Open("pgx", dc.DSN)
		if err != nil {
			// The pgx error may echo the DSN, password included: drop it.
			return nil, fmt.Errorf("%w: unparsable postgres dsn", ErrInvalidConfig)
		}
		db.SetMaxOpenConns(4)
		return &database{driver: DriverPostgres, db: db}, nil
	}
	return nil, fmt.Errorf("%w: driver %q (want sqlite or postgres)", ErrInvalidConfig, dc.Driver)
}

// Names returns the configured database names, sorted.
func (d *DB) Names() []string {
	names := make([]string, 0, len(d.dbs))
	for n := range d.dbs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close closes every database.
func (d *DB) Close() error {
	var errs []error
	for _, db := range d.dbs {
		errs = append(errs, db.db.Close())
	}
	return errors.Join(errs...)
}

// Query runs one read-only statement against the database called name.
// args bind to placeholders (? for SQLite, $1 for PostgreSQL).
func (d *DB) Query(ctx context.Context, name, query string, args ...any) (*Result, error) {
	if err := ValidateQuery(query); err != nil {
		return nil, fmt.Errorf("sqlq: %w", err)
	}
	return d.run(ctx, name, query, args)
}

// run executes without the early validation; tests use it to prove the
// database refuses writes on its own.
func (d *DB) run(ctx context.Context, name, query string, args []any) (*Result, error) {
	db, ok := d.dbs[name]
	if !ok {
		return nil, fmt.Errorf("sqlq: %w %q", ErrUnknownDB, name)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, d.setupError(ctx, "connect", err)
	}
	defer func() { _ = conn.Close() }() // back to the pool; nothing was written
	if db.driver == DriverSQLite {
		// ATTACH could open (and create) another, writable file: allow
		// zero attached databases on this connection.
		if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_ATTACHED, 0); err != nil {
			return nil, d.setupError(ctx, "limit attach", err)
		}
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, d.setupError(ctx, "begin", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	if db.driver == DriverPostgres {
		ms := d.cfg.Timeout.Milliseconds()
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
			return nil, d.setupError(ctx, "set timeout", err)
		}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, d.queryError(ctx, "query", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err in collect
	res, err := d.collect(rows)
	if err != nil {
		return nil, d.queryError(ctx, "read rows", err)
	}
	return res, nil
}

// collect reads rows until the row or byte cap.
func (d *DB) collect(rows *sql.Rows) (*Result, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	var size int64
	for rows.Next() {
		if len(res.Rows) >= d.cfg.MaxRows {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var rowSize int64
		for i, v := range vals {
			vals[i], rowSize = jsonable(v), rowSize+valueSize(v)
		}
		if size+rowSize > d.cfg.MaxBytes {
			res.Truncated = true
			break
		}
		size += rowSize
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

// jsonable turns driver values into JSON-friendly ones: text as strings,
// binary as []byte (base64 in JSON).
func jsonable(v any) any {
	if b, ok := v.([]byte); ok {
		if utf8.Valid(b) {
			return string(b)
		}
		return slices.Clone(b)
	}
	return v
}

func valueSize(v any) int64 {
	switch x := v.(type) {
	case []byte:
		return int64(len(x)) + 2
	case string:
		return int64(len(x)) + 2
	}
	return 16
}

// setupError reports a failure before the caller's query ran: the cause is
// wrapped for the log, behind ErrUnavailable for the caller.
func (d *DB) setupError(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("sqlq: %w after %v", ErrTimeout, d.cfg.Timeout)
	}
	return fmt.Errorf("sqlq: %s: %w: %w", op, ErrUnavailable, err)
}

// queryError maps timeouts to ErrTimeout, read-only refusals to ErrRefused
// and other database errors to ErrQuery. Database messages are kept: they
// name the tables and columns the caller wrote, which helps fix the query.
func (d *DB) queryError(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || strings.Contains(err.Error(), "statement timeout") {
		return fmt.Errorf("sqlq: %w after %v", ErrTimeout, d.cfg.Timeout)
	}
	msg := err.Error()
	if strings.Contains(msg, "readonly") || strings.Contains(msg, "read-only") || strings.Contains(msg, "read only") {
		return fmt.Errorf("sqlq: %s: %w: the database is read-only: %w", op, ErrRefused, err)
	}
	return fmt.Errorf("sqlq: %s: %w: %w", op, ErrQuery, err)
}
