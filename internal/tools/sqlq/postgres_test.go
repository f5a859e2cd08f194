package sqlq

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// pgBin is where Debian's postgresql-15 package installs the server; set
// BULWARK_PG_BIN to use another build.
func pgBin() string {
	if d := os.Getenv("BULWARK_PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// startPostgres runs a throwaway PostgreSQL server on a random loopback
// port in a temporary directory and returns a superuser DSN, or "" when the
// binaries are missing outside CI (in CI, missing binaries fail the test).
func startPostgres(t *testing.T) string {
	t.Helper()
	bin := pgBin()
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL binaries missing in %s (apt-get install postgresql): %v", bin, err)
		}
		t.Logf("PostgreSQL binaries missing in %s; PostgreSQL tests not run", bin)
		return ""
	}
	dir, err := os.MkdirTemp("", "bulwark-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := dropRoot(t, dir)
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=20")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := srv.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGINT) // fast shutdown
		srv.Wait()
	})
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	waitReady(t, dsn)
	return dsn
}

// dropRoot returns credentials for "nobody" when running as root (PostgreSQL
// refuses to run as root) and hands dir to that user.
func dropRoot(t *testing.T, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("running as root and no nobody user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitReady(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPostgresReadOnly(t *testing.T) {
	superDSN := startPostgres(t)
	if superDSN == "" {
		return
	}
	admin, err := sql.Open("pgx", superDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, s := range []string{
		"CREATE TABLE items (id int PRIMARY KEY, name text)",
		"INSERT INTO items SELECT g, 'item-' || g FROM generate_series(1, 50) g",
		"CREATE ROLE reader LOGIN",
		"GRANT SELECT ON items TO reader",
	} {
		if _, err := admin.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	readerDSN := superDSN[:len("postgres://")] + "reader" + superDSN[len("postgres://postgres"):]
	d, err := Open(Config{Timeout: 500 * time.Millisecond, MaxRows: 20, Databases: map[string]DatabaseConfig{
		"reader": {Driver: DriverPostgres, DSN: readerDSN},
		// superuser: proves the READ ONLY transaction alone stops writes.
		"super": {Driver: DriverPostgres, DSN: superDSN},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()

	res, err := d.Query(ctx, "reader", "SELECT id, name FROM items WHERE id <= $1 ORDER BY id", 3)
	if err != nil || len(res.Rows) != 3 || res.Rows[2][1] != "item-3" {
		t.Fatalf("select = %+v, %v", res, err)
	}
	if res, _ := d.Query(ctx, "reader", "SELECT * FROM items"); len(res.Rows) != 20 || !res.Truncated {
		t.Fatalf("row cap: %d rows truncated=%v", len(res.Rows), res.Truncated)
	}
	pgWrites := []string{
		"INSERT INTO items VALUES (1000, 'x')",
		"UPDATE items SET name = 'pwned'",
		"DELETE FROM items",
		"CREATE TABLE evil (x int)",
		"DROP TABLE items",
		"WITH d AS (DELETE FROM items RETURNING *) SELECT count(*) FROM d",
		"SELECT * INTO evil FROM items",
		"COMMIT; INSERT INTO items VALUES (1001, 'x')",
		"SET default_transaction_read_only = off",
		"SELECT set_config('default_transaction_read_only', 'off', false)",
	}
	for _, q := range pgWrites {
		t.Run(q, func(t *testing.T) {
			if _, err := d.Query(ctx, "super", q); !errors.Is(err, ErrRefused) {
				t.Fatalf("Query = %v, want ErrRefused", err)
			}
			for _, db := range []string{"super", "reader"} {
				_, err := d.run(ctx, db, q, nil)
				if err == nil && q[0] != 'S' { // SET and set_config succeed, then roll back
					t.Fatalf("%s: database accepted %q", db, q)
				}
				if _, err := d.run(ctx, db, "INSERT INTO items VALUES (2000, 'after')", nil); err == nil {
					t.Fatalf("%s: write accepted after %q", db, q)
				}
			}
		})
	}
	var n int
	var name string
	admin.QueryRow("SELECT count(*), min(name) FROM items").Scan(&n, &name)
	var evil int
	admin.QueryRow("SELECT count(*) FROM pg_tables WHERE tablename = 'evil'").Scan(&evil)
	if n != 50 || name != "item-1" || evil != 0 {
		t.Fatalf("database changed: count=%d min(name)=%q evil tables=%d", n, name, evil)
	}

	start := time.Now()
	if _, err := d.Query(ctx, "reader", "SELECT pg_sleep(5)"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("pg_sleep(5) = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("timeout took %v", el)
	}
}
