package sqlq

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/pgtest"
)

func TestPostgresReadOnly(t *testing.T) {
	superDSN := pgtest.Start(t)
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
