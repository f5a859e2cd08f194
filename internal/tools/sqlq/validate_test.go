package sqlq

import (
	"errors"
	"testing"
)

var queryCases = []struct {
	name string
	q    string
	ok   bool
}{
	{"select", "SELECT * FROM items", true},
	{"lower select trailing semicolon", "select id from items;", true},
	{"with", "WITH t AS (SELECT 1 AS x) SELECT x FROM t", true},
	{"explain", "EXPLAIN QUERY PLAN SELECT * FROM items", true},
	{"values", "VALUES (1), (2)", true},
	{"parenthesised", "(SELECT 1)", true},
	{"leading comment", "-- note\nSELECT 1", true},
	{"keyword in string", "SELECT 'DELETE FROM items; DROP TABLE x' AS s", true},
	{"keyword as quoted identifier", `SELECT "update" FROM items`, true},
	{"dollar quoted", "SELECT $$ drop table x $$", true},
	{"column named updated_at", "SELECT updated_at FROM items", true},
	{"empty", "   ", false},
	{"insert", "INSERT INTO items VALUES (1)", false},
	{"update", "UPDATE items SET name = 'x'", false},
	{"delete", "DELETE FROM items", false},
	{"create", "CREATE TABLE t (x)", false},
	{"drop", "DROP TABLE items", false},
	{"attach", "ATTACH DATABASE '/tmp/evil.db' AS evil", false},
	{"detach", "DETACH DATABASE main", false},
	{"pragma write", "PRAGMA user_version = 5", false},
	{"pragma read", "PRAGMA table_info(items)", false},
	{"load extension", "SELECT load_extension('/tmp/evil.so')", false},
	{"stacked", "SELECT 1; DELETE FROM items", false},
	{"stacked after comment", "SELECT 1 /* x */; /* y */ DROP TABLE items", false},
	{"cte with delete", "WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d", false},
	{"select into", "SELECT * INTO newtable FROM items", false},
	{"comment hides nothing", "SELECT 1 -- \nDELETE FROM items", false},
	{"replace", "REPLACE INTO items VALUES (1)", false},
	{"vacuum into", "VACUUM INTO '/tmp/copy.db'", false},
	{"pg read file", "SELECT pg_read_file('/etc/passwd')", false},
	{"copy to program", "COPY items TO PROGRAM 'id'", false},
	{"set", "SET default_transaction_read_only = off", false},
	{"commit then write", "COMMIT; INSERT INTO items VALUES (1)", false},
	{"unterminated quote", "SELECT 'abc", false},
	{"unterminated comment", "SELECT 1 /* abc", false},
	{"nul", "SELECT 1\x00; DROP TABLE items", false},
	{"begin", "BEGIN", false},
	{"mixed case", "sElEcT 1; dElEtE fRoM items", false},
}

func TestValidateQuery(t *testing.T) {
	for _, tt := range queryCases {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateQuery(tt.q)
			if tt.ok && err != nil {
				t.Fatalf("ValidateQuery(%q) = %v", tt.q, err)
			}
			if !tt.ok && !errors.Is(err, ErrRefused) {
				t.Fatalf("ValidateQuery(%q) = %v, want ErrRefused", tt.q, err)
			}
		})
	}
}

func FuzzValidateQuery(f *testing.F) {
	for _, tt := range queryCases {
		f.Add(tt.q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if err := ValidateQuery(q); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error %v does not wrap ErrRefused", err)
		}
	})
}
