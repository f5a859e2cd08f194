package mcp

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/bulwarkhq/bulwark/internal/tools/sqlq"
)

func TestBuiltinSQLEnvAndTime(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users(name) VALUES ('ada'), ('grace')"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	before := fileHash(t, dbPath)
	t.Setenv("BULWARK_TEST_VISIBLE", "visible-value")
	t.Setenv("BULWARK_TEST_MASTER_KEY", "master-key-must-not-leak")

	b := newBuiltins(t, BuiltinConfig{
		SQL: &sqlq.Config{Databases: map[string]sqlq.DatabaseConfig{"app": {Driver: sqlq.DriverSQLite, Path: dbPath}}},
		Env: true, EnvAllow: []string{"BULWARK_TEST_VISIBLE"},
		Time: true,
	})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	cs := fx.mustConnect(secretAll, Version20260728)
	if names := toolNames(t, cs); !slices.Equal(names, []string{"env_get", "sql_query", "time_now"}) {
		t.Fatalf("tools = %v", names)
	}
	tests := []struct {
		name    string
		tool    string
		args    map[string]any
		wantErr bool
		want    string
	}{
		{"select", "sql_query", map[string]any{"database": "app", "query": "SELECT name FROM users ORDER BY id"}, false, `"rows":[["ada"],["grace"]]`},
		{"bound parameter", "sql_query", map[string]any{"database": "app", "query": "SELECT id FROM users WHERE name = ?", "params": []any{"grace"}}, false, `[[2]]`},
		{"insert", "sql_query", map[string]any{"database": "app", "query": "INSERT INTO users(name) VALUES ('eve')"}, true, "query refused"},
		{"stacked statements", "sql_query", map[string]any{"database": "app", "query": "SELECT 1; DROP TABLE users"}, true, "query refused"},
		{"attach", "sql_query", map[string]any{"database": "app", "query": "ATTACH DATABASE '/tmp/x.db' AS x"}, true, "query refused"},
		{"pragma write", "sql_query", map[string]any{"database": "app", "query": "PRAGMA query_only=0"}, true, "query refused"},
		{"load extension", "sql_query", map[string]any{"database": "app", "query": "SELECT load_extension('/tmp/evil.so')"}, true, "query refused"},
		{"caller-supplied DSN", "sql_query", map[string]any{"database": "file:" + dbPath + "?mode=rw", "query": "SELECT 1"}, true, "unknown database"},
		{"allowlisted env", "env_get", map[string]any{"name": "BULWARK_TEST_VISIBLE"}, false, "visible-value"},
		{"secret env", "env_get", map[string]any{"name": "BULWARK_TEST_MASTER_KEY"}, true, "not available"},
		{"case variant", "env_get", map[string]any{"name": "bulwark_test_visible"}, true, "not available"},
		{"glob", "env_get", map[string]any{"name": "BULWARK_TEST_*"}, true, "not available"},
		{"utc", "time_now", nil, false, "Z"},
		{"zone", "time_now", map[string]any{"zone": "Europe/Paris"}, false, "(Europe/Paris)"},
		{"zone path traversal", "time_now", map[string]any{"zone": "../../../etc/passwd"}, true, "unknown time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr, _ := structured(t, cs, tt.tool, tt.args)
			if isErr != tt.wantErr || !strings.Contains(text, tt.want) {
				t.Fatalf("%s = %q (error %v), want %q", tt.tool, text, isErr, tt.want)
			}
			if strings.Contains(text, "master-key-must-not-leak") || strings.Contains(text, dbPath) {
				t.Fatalf("output leaks a secret or a host path: %q", text)
			}
		})
	}
	if fileHash(t, dbPath) != before {
		t.Fatal("the database file changed")
	}
	for _, e := range fx.audit.all() {
		if strings.Contains(e.Details["args"], "master-key-must-not-leak") || strings.Contains(e.Details["error"], "master-key") {
			t.Fatalf("audit leaks: %+v", e)
		}
	}
}

func fileHash(t *testing.T, p string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
