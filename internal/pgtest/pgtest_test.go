package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Each Start gets its own empty database on the one shared server: a
// table made in one is not in the other.
func TestStartGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Starts returned one database: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("table leaked into the second database: %d %v", n, err)
	}
	var addr string
	if err := cb.QueryRow(ctx, "SELECT host(inet_server_addr())").Scan(&addr); err != nil || addr != "127.0.0.1" {
		t.Fatalf("server address = %q %v, want loopback", addr, err)
	}
}

// Missing binaries are an error with an install hint, never a skip.
func TestMissingBinariesFail(t *testing.T) {
	t.Setenv(EnvBin, t.TempDir())
	_, err := startServer()
	if err == nil || !strings.Contains(err.Error(), "apt-get install") || !strings.Contains(err.Error(), EnvBin) {
		t.Fatalf("startServer without binaries = %v, want an install hint", err)
	}
}
