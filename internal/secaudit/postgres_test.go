package secaudit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
)

// One PostgreSQL server for the package; each test gets its own database.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgConfig is a config for database.driver postgres on a fresh database,
// with the URL in the process environment, as serve reads it.
func pgConfig(t *testing.T) (*config.Config, string) {
	t.Helper()
	dsn := pgtest.Start(t)
	t.Setenv(config.EnvDatabaseURL, dsn)
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Database.Driver = config.DriverPostgres
	c.SetMasterKey(testRootKey)
	return c, dsn
}

// pgExec runs q on the database as an operator (or an attacker with
// database access) would, behind the barrier's back.
func pgExec(t *testing.T, dsn, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, q, args...); err != nil {
		t.Fatal(err)
	}
}

// With database.driver postgres the state checks read the shared
// database: the data directory holds no bulwark.db, yet a credential in
// clear, an edited audit row and an old keyring term are found.
func TestCheckStatePostgres(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		setup  func(t *testing.T, dsn string, in *instance.Instance)
		later  time.Duration
		want   []string
		absent []string
	}{
		{"sound state", func(t *testing.T, _ string, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1"}, "sk-encrypted-secret")
		}, 0, nil, []string{"BW-PRV-001", "BW-PRV-004", "BW-AUD-001", "BW-STA-001"}},
		{"credential in clear", func(t *testing.T, dsn string, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1"}, "sk-encrypted-secret")
			pgExec(t, dsn, "UPDATE providers SET credential = $1", plainCredential)
		}, 0, []string{"BW-PRV-001"}, nil},
		{"audit entry edited", func(t *testing.T, dsn string, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 24 * time.Hour})
			pgExec(t, dsn, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = (SELECT min(seq) FROM audit_events)")
		}, 0, []string{"BW-AUD-001"}, nil},
		{"admin key and an old term", func(t *testing.T, _ string, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Scopes: []string{auth.ScopeAdminGlobal}})
		}, 91 * 24 * time.Hour, []string{"BW-KEY-001", "BW-KEY-002", "BW-KEY-003", "BW-BAR-001"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dsn := pgConfig(t)
			inst, err := instance.Open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dsn, inst)
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			found := Run(ctx, Input{Config: c, Now: func() time.Time { return time.Now().Add(tt.later) }})
			expectIDs(t, found, tt.want, tt.absent)
			for _, id := range []string{"BW-PRV-001", "BW-AUD-001"} {
				if f, ok := find(found, id); ok && f.Severity != Critical {
					t.Fatalf("%s is %s, want critical", id, f.Severity)
				}
			}
			out, _ := json.Marshal(found)
			for _, secret := range []string{plainCredential, "sk-encrypted-secret", testRootKey, dsn} {
				if strings.Contains(string(out), secret) {
					t.Fatalf("findings contain a secret: %s", out)
				}
			}
		})
	}
}

// An empty PostgreSQL database holds no Bulwark state: the audit reads
// nothing and creates no keyring; without the URL it says which variable
// is missing.
func TestHasStorePostgres(t *testing.T) {
	ctx := context.Background()
	c, dsn := pgConfig(t)
	if has, err := HasStore(ctx, c); err != nil || has {
		t.Fatalf("empty database: HasStore = %v, %v; want false", has, err)
	}
	if found := Run(ctx, Input{Config: c}); hasAny(found, "BW-STA-", "BW-AUD-", "BW-KEY-", "BW-PRV-") {
		t.Fatalf("empty database gave state findings: %+v", found)
	}
	if has, err := HasStore(ctx, c); err != nil || has {
		t.Fatalf("after the audit: HasStore = %v, %v; the audit created state", has, err)
	}
	if n := pgCount(t, dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); n != 0 {
		t.Fatalf("the audit created %d tables in an empty database", n)
	}
	// Migrated but never initialised: a schema, no keyring.
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if has, err := HasStore(ctx, c); err != nil || has {
		t.Fatalf("schema without a keyring: HasStore = %v, %v; want false", has, err)
	}

	t.Setenv(config.EnvDatabaseURL, "")
	found := Run(ctx, Input{Config: c})
	f, ok := find(found, "BW-STA-001")
	if !ok || f.Severity != Critical || !strings.Contains(f.Evidence, config.EnvDatabaseURL) {
		t.Fatalf("without %s: %+v; want critical BW-STA-001 naming it", config.EnvDatabaseURL, found)
	}
}

// pgCount runs a count query on the database.
func pgCount(t *testing.T, dsn, q string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// hasAny reports whether a finding's ID starts with one of prefixes.
func hasAny(found []Finding, prefixes ...string) bool {
	for _, f := range found {
		for _, p := range prefixes {
			if strings.HasPrefix(f.ID, p) {
				return true
			}
		}
	}
	return false
}
