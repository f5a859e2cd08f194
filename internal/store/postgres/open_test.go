package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
	"github.com/bulwarkhq/bulwark/internal/store/storetest"
)

// pgxConnect opens a plain connection as the test superuser, outside any
// Store, closed when the test ends.
func pgxConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// exec runs statements on dsn as the test superuser.
func exec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn := pgxConnect(t, dsn)
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Replicas starting together on an empty database apply each migration
// exactly once (the default tenant, inserted by the first migration, is
// there once) and all open.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 2})
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent start: %v", err)
	}
	s := openDSN(t, dsn)
	ts, err := s.ListTenants(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Name != store.DefaultTenant {
		t.Fatalf("tenants after %d concurrent starts = %+v, %v", n, ts, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     []string
		dsnSuffix string
		wantErr   error
		wantMsg   string
	}{
		{
			name:    "schema newer than the binary",
			setup:   []string{"UPDATE schema_version SET version = 99"},
			wantErr: postgres.ErrSchemaTooNew,
			wantMsg: "version 99",
		},
		{
			name:    "commits not durable",
			setup:   []string{`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', current_database()); END $$`},
			wantErr: postgres.ErrNotDurable,
			wantMsg: "set it to on",
		},
		{
			name:      "commits not durable for this connection string",
			dsnSuffix: "&synchronous_commit=off",
			wantErr:   postgres.ErrNotDurable,
			wantMsg:   "set it to on",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := pgtest.Start(t)
			_ = openDSN(t, dsn).Close() // migrate
			exec(t, dsn, tt.setup...)
			s, err := postgres.Open(context.Background(), dsn+tt.dsnSuffix, postgres.Options{})
			if err == nil {
				_ = s.Close()
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Open = %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

// A database made before migration 0002 (no estimated column), 0003 (no
// one-hour cache-write column) or 0005 (no endpoint column) is upgraded
// on open: its rows stay and read the added columns' defaults, and new
// rows keep what they are written with.
func TestUpgradeAddsUsageColumns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version int
		drop    []string // the columns that version's schema lacks
		cols    string   // and the columns its binary wrote beyond the first schema's
		vals    string
	}{
		{"from version 1", 1, []string{"endpoint", "cache_write_1h_tokens", "estimated"}, "", ""},
		{"from version 2", 2, []string{"endpoint", "cache_write_1h_tokens"}, ", estimated", ", false"},
		{"from version 4", 4, []string{"endpoint"}, ", estimated, cache_write_1h_tokens", ", false, 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.Start(t)
			_ = openDSN(t, dsn).Close()
			var qs []string
			if tt.version < 4 {
				qs = append(qs, "DROP TABLE keyring_salt")
			}
			for _, c := range tt.drop {
				qs = append(qs, "ALTER TABLE usage DROP COLUMN "+c)
			}
			exec(t, dsn, append(qs, fmt.Sprintf("UPDATE schema_version SET version = %d", tt.version),
				// A row as that version's binary wrote it.
				`INSERT INTO usage(ts, request_id, tenant, key_id, model, provider, deployment, prompt_tokens, completion_tokens,
				cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms, status, stream`+tt.cols+`)
				VALUES (0, 'old', 't', 'k', 'm', 'p', 'd', 7, 3, 0, 0, 0, 1, 5, 1, 200, true`+tt.vals+`)`)...)
			s := openDSN(t, dsn)
			if err := s.InsertUsage(ctx, []store.Usage{storetest.UpgradeRow()}); err != nil {
				t.Fatal(err)
			}
			conn := pgxConnect(t, dsn)
			var version int
			if err := conn.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil || version != latestVersion {
				t.Fatalf("schema version after upgrade: %d (%v)", version, err)
			}
			rows, err := conn.Query(ctx, "SELECT request_id, estimated, cache_write_1h_tokens, endpoint FROM usage")
			if err != nil {
				t.Fatal(err)
			}
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
			storetest.CheckUpgradedUsage(ctx, t, s, got)
		})
	}
}

// latestVersion is the schema version this binary migrates to.
const latestVersion = 6

// A database made before migration 0004 (schema version 3, a keyring
// whose passphrase salt was kept in a file) gains the salt table on open;
// the keyring is untouched and takes the salt at its version.
func TestUpgradeAddsKeyringSalt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	_ = openDSN(t, dsn).Close()
	exec(t, dsn, "ALTER TABLE usage DROP COLUMN endpoint", "DROP TABLE keyring_salt", "UPDATE schema_version SET version = 3",
		`INSERT INTO keyring(id, blob, version) VALUES (1, 'ring', 1)`)
	s := openDSN(t, dsn)
	var version int
	if err := pgxConnect(t, dsn).QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil || version != latestVersion {
		t.Fatalf("schema version after upgrade: %d (%v)", version, err)
	}
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

const password = "Pw-a1b2c3d4e5f6"

// withPassword puts the password into a test DSN (the test server trusts
// loopback, so it is accepted and ignored).
func withPassword(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// The DSN's password appears in no error Open returns and in no log line.
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel()
	good := withPassword(t, pgtest.Start(t))
	tests := []struct {
		name    string
		dsn     string
		wantErr bool
	}{
		{"unreachable server", fmt.Sprintf("postgres://u:%s@127.0.0.1:%d/db?sslmode=disable&connect_timeout=5", password, closedPort(t)), true},
		{"unparsable url", "postgres://u:" + password + "@127.0.0.1:notaport/db", true},
		{"unparsable key value", "host=127.0.0.1 password='" + password, true},
		{"missing database", strings.Replace(good, "/t_", "/missing_", 1), true},
		{"success", good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, tt.dsn, postgres.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if s != nil {
				_ = s.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), password) {
				t.Fatalf("error shows the password: %v", err)
			}
			if strings.Contains(logs.String(), password) {
				t.Fatalf("log shows the password: %s", logs.String())
			}
			if !tt.wantErr && !strings.Contains(logs.String(), "database=t_") {
				t.Fatalf("log does not name the database: %s", logs.String())
			}
		})
	}
}

// A server that accepts and never answers fails Open within the connect
// timeout instead of hanging a replica's start.
func TestOpenGivesUpOnASilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	dsn := fmt.Sprintf("postgres://u@%s/db?sslmode=disable", ln.Addr())
	start := time.Now()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{ConnectTimeout: 300 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded against a silent server")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Open took %v to give up", el)
	}
}

var describeCases = []struct{ dsn, want string }{
	{"postgres://bulwark:" + password + "@db.internal:6432/gw?sslmode=require", "host=db.internal port=6432 database=gw user=bulwark"},
	{"host=db.internal port=6432 dbname=gw user=bulwark password=" + password, "host=db.internal port=6432 database=gw user=bulwark"},
	{"postgres://u:" + password + "@h:notaport/db", "invalid connection string"},
}

func TestDescribe(t *testing.T) {
	for _, tt := range describeCases {
		t.Run(tt.want, func(t *testing.T) {
			if got := postgres.Describe(tt.dsn); got != tt.want {
				t.Fatalf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzDescribe: what Describe prints does not depend on the password.
func FuzzDescribe(f *testing.F) {
	for _, tt := range describeCases {
		if u, err := url.Parse(tt.dsn); err == nil {
			f.Add(u.Host, password)
		}
	}
	f.Fuzz(func(t *testing.T, host, pw string) {
		build := func(pw string) string {
			return (&url.URL{Scheme: "postgres", User: url.UserPassword("u", pw), Host: host, Path: "/db"}).String()
		}
		withPw, other := postgres.Describe(build(pw)), postgres.Describe(build("x"))
		if withPw != other && withPw != "invalid connection string" {
			t.Fatalf("Describe depends on the password: %q / %q", withPw, other)
		}
	})
}

// A batch larger than any single statement arrives whole through COPY,
// with every value.
func TestInsertUsageLargeBatch(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rows := make([]store.Usage, 5000)
	for i := range rows {
		rows[i] = store.Usage{Time: now, RequestID: fmt.Sprint("r", i), Tenant: "default", KeyID: "k", Model: "m",
			PromptTokens: 2, CompletionTokens: 1, CostMicros: 3, Status: 200 + 300*(i%2), Stream: i%2 == 0}
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SummariseUsage(ctx, store.UsageFilter{KeyID: "k", Tenant: "default", Since: now.Add(-time.Second)})
	if err != nil || len(sum) != 1 || sum[0].Requests != 5000 || sum[0].PromptTokens != 10000 || sum[0].CompletionTokens != 5000 ||
		sum[0].CostMicros != 15000 || sum[0].Errors != 2500 {
		t.Fatalf("summary %+v %v", sum, err)
	}
}

// A database made before migration 0006 (schema version 5: no providers
// generation) gains the counter and its trigger on open; a provider stored
// before is kept, and changes after the upgrade move the counter.
func TestUpgradeAddsProvidersGeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	_ = openDSN(t, dsn).Close()
	exec(t, dsn, "DROP TRIGGER providers_generation ON providers", "DROP FUNCTION bump_providers_generation()",
		"DELETE FROM meta WHERE name = 'providers_generation'", "UPDATE schema_version SET version = 5",
		`INSERT INTO providers(tenant, name, type, base_url, models, credential, credential_env, created_at)
			VALUES ('default', 'up', 'openai', 'https://x', '{}', '', '', 0)`)
	s := openDSN(t, dsn)
	var version int
	if err := pgxConnect(t, dsn).QueryRow(ctx, "SELECT version FROM schema_version").Scan(&version); err != nil || version != latestVersion {
		t.Fatalf("schema version after upgrade: %d (%v)", version, err)
	}
	storetest.CheckUpgradedProviders(ctx, t, s, "up", "https://x")
}
