// Package postgres implements store.Store on PostgreSQL, for deployments
// where any number of stateless replicas share state and the audit chain.
//
// Everything a replica must agree on is decided by the database: audit
// appends are serialised across processes by a transaction-scoped advisory
// lock (the hash chain never forks), the keys generation is one row
// updated in the same transaction as the key, secrets and the keyring are
// written with compare-and-swap statements (the keyring's passphrase salt
// under a lock on the keyring table), and migrations run in one
// transaction under an advisory lock so replicas starting together do not
// race. Commits are synchronous (Open refuses synchronous_commit=off), so
// an audit entry is durable before the action it records is acknowledged.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwarkhq/bulwark/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys ("bulwark" and a number), one per serialised job.
const (
	lockMigrate int64 = 0x62756c7761726b01
	lockAudit   int64 = 0x62756c7761726b02
)

// defaultConnectTimeout bounds each connection attempt unless the DSN sets
// connect_timeout.
const defaultConnectTimeout = 10 * time.Second

// Sentinel errors Open returns.
var (
	// ErrInvalidDSN: the connection string does not parse. The message
	// never repeats the string, which holds a password.
	ErrInvalidDSN = errors.New("postgres: invalid connection string")
	// ErrSchemaTooNew: the database was migrated by a newer Bulwark.
	ErrSchemaTooNew = errors.New("postgres: database schema is newer than this binary")
	// ErrNotDurable: the server would acknowledge commits before they are
	// on disk.
	ErrNotDurable = errors.New("postgres: synchronous_commit is off")
)

// Options tune Open.
type Options struct {
	// MaxConns caps the pool (0: pgxpool's default).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt when the DSN sets no
	// connect_timeout (0: 10 s).
	ConnectTimeout time.Duration
	// Log receives one line naming the server and database (never the
	// password). Nil logs nothing.
	Log *slog.Logger
}

// Store is a PostgreSQL-backed store.Store, safe for concurrent use by
// goroutines and by any number of processes sharing the database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names, checks that commits are
// durable and applies migrations. Errors never contain the password.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	pool, err := openPool(ctx, dsn, opt)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool}
	if err := s.start(ctx); err != nil {
		pool.Close()
		return nil, redact(fmt.Errorf("postgres: open %s: %w", Describe(dsn), err), pool.Config().ConnConfig.Password)
	}
	if opt.Log != nil {
		opt.Log.Info("store: postgres", "server", Describe(dsn))
	}
	return s, nil
}

// HasKeyring reports whether the database dsn names already holds a
// Bulwark keyring, reading only: unlike Open it applies no migration, so
// asking about an empty database leaves it empty. Errors never contain
// the password.
func HasKeyring(ctx context.Context, dsn string, opt Options) (bool, error) {
	opt.MaxConns = 1
	pool, err := openPool(ctx, dsn, opt)
	if err != nil {
		return false, err
	}
	defer pool.Close()
	// to_regclass is NULL for a missing table: the keyring is read only
	// where the schema exists (a statement naming a missing table fails
	// when it is parsed, whatever its conditions).
	var has bool
	err = pool.QueryRow(ctx, "SELECT to_regclass('keyring') IS NOT NULL").Scan(&has)
	if err == nil && has {
		err = pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM keyring WHERE id = 1)").Scan(&has)
	}
	if err != nil {
		return false, redact(fmt.Errorf("postgres: read the keyring on %s: %w", Describe(dsn), err), pool.Config().ConnConfig.Password)
	}
	return has, nil
}

// openPool parses dsn, applies opt and Bulwark's connection defaults and
// opens the pool (connections are made lazily, on first use).
func openPool(ctx context.Context, dsn string, opt Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, ErrInvalidDSN // the parse error may quote the string
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout a dial to a silent host waits for TCP to
		// give up (minutes); a replica should fail its start fast instead.
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opt.ConnectTimeout, defaultConnectTimeout)
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// Names Bulwark's sessions in pg_stat_activity and server logs.
		cfg.ConnConfig.RuntimeParams["application_name"] = "bulwark"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("postgres: open %s: %w", Describe(dsn), err), cfg.ConnConfig.Password)
	}
	return pool, nil
}

func (s *Store) start(ctx context.Context) error {
	var sync string
	if err := s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sync); err != nil {
		return err
	}
	if sync == "off" {
		return fmt.Errorf("%w for this role or database; audit entries must be durable before they are acknowledged: set it to on", ErrNotDurable)
	}
	return s.migrate(ctx)
}

// Describe names the server and database of dsn for logs: host, port,
// database and user, never the password. An unparsable dsn is "invalid
// connection string".
func Describe(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "invalid connection string"
	}
	return fmt.Sprintf("host=%s port=%d database=%s user=%s", c.Host, c.Port, c.Database, c.User)
}

// redact replaces the password wherever a driver error repeats it. The
// result no longer wraps the cause, whose text would still hold it.
func redact(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the embedded migrations not yet applied, in one
// transaction under an advisory lock, so replicas starting together apply
// each exactly once. A schema newer than the binary is refused.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, "SELECT version FROM schema_version WHERE id = 1").Scan(&version)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("migrate: %w", err)
		}
		if version > len(names) {
			return fmt.Errorf("%w: version %d, this binary knows %d; run a newer Bulwark", ErrSchemaTooNew, version, len(names))
		}
		for i := version; i < len(names); i++ {
			body, err := migrations.ReadFile(names[i])
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", names[i], err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO schema_version(id, version) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version`, len(names))
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

// rollbackTimeout bounds the rollback of a transaction that did not
// commit.
const rollbackTimeout = 5 * time.Second

// tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// Deferred, so that a panic in fn does not leave the transaction and
	// its connection held; after Commit it does nothing. The transaction
	// is void either way; fn's error says why. Not under ctx alone: an
	// ended ctx would fail the rollback and cost the pool its connection.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w: %w", store.ErrCommitUnknown, err)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func timePtr(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := fromMillis(*ms)
	return &t
}

// list makes nil an empty array: the columns are NOT NULL.
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// Lists are read with pgx.AppendRows onto a nil slice, so an empty result
// is nil as in the SQLite store (JSON null, not []).

// SQLSTATE codes the store maps to sentinel errors.
const (
	codeUnique     = "23505"
	codeForeignKey = "23503"
)

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
