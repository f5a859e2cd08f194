package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/barrier/barriertest"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
	"github.com/bulwarkhq/bulwark/internal/store/storetest"
)

// One PostgreSQL server for the package; a fresh database per store, so
// tests run in parallel (except those that set the environment).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openDSN opens a store on dsn, closed when the test ends.
func openDSN(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func open(t *testing.T) store.Store { return openDSN(t, pgtest.Start(t)) }

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func TestKeyringStoreConformance(t *testing.T) {
	t.Parallel()
	barriertest.RunKeyringStore(t, func(t *testing.T) barrier.KeyringStore {
		return instance.KeyringStore{S: open(t)}
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := openDSN(t, dsn)
	if err := s.CreateTenant(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openDSN(t, dsn) // migrations must not re-run
	if ok, err := s.TenantExists(ctx, "acme"); err != nil || !ok {
		t.Fatalf("data lost on reopen: %v %v", ok, err)
	}
	// Operators find Bulwark's sessions by name in pg_stat_activity.
	var n int
	row := pgxConnect(t, dsn).QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bulwark' AND datname = current_database()")
	if err := row.Scan(&n); err != nil || n == 0 {
		t.Fatalf("sessions named bulwark: %d, %v", n, err)
	}
}
