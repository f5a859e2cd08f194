package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestDatabaseSection(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
		wantDriver          string
	}{
		{name: "default is sqlite", yaml: "", wantDriver: DriverSQLite},
		{name: "postgres", yaml: "database:\n  driver: postgres\n", wantDriver: DriverPostgres},
		{name: "postgres with own variable", yaml: "database:\n  driver: postgres\n  dsn_env: PG_URL\n  max_conns: 20\n", wantDriver: DriverPostgres},
		{name: "unknown driver", yaml: "database:\n  driver: mysql\n", wantErr: "database.driver"},
		{name: "dsn in the file is an unknown field", yaml: "database:\n  driver: postgres\n  dsn: postgres://u:pw@h/db\n", wantErr: "field dsn not found"},
		{name: "bad variable name", yaml: "database:\n  driver: postgres\n  dsn_env: 'A B'\n", wantErr: "database.dsn_env"},
		{name: "master key variable refused", yaml: "database:\n  driver: postgres\n  dsn_env: BULWARK_MASTER_KEY\n", wantErr: "another Bulwark setting"},
		{name: "negative max_conns", yaml: "database:\n  driver: postgres\n  max_conns: -1\n", wantErr: "database.max_conns"},
		{name: "postgres keys with sqlite", yaml: "database:\n  dsn_env: PG_URL\n", wantErr: "driver postgres only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := Decode([]byte(tt.yaml), c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Database.DriverName(); got != tt.wantDriver {
				t.Fatalf("driver = %q, want %q", got, tt.wantDriver)
			}
		})
	}
}

const testPassword = "Pw-9f8e7d6c5b4a"

// dsnCases are shared by TestPostgresDSN and the fuzzer's seeds.
var dsnCases = []struct {
	name       string
	dsnEnv     string
	env        map[string]string
	production bool
	wantErr    error
}{
	{name: "missing variable", env: nil, wantErr: ErrNoDSN},
	{name: "invalid string", env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@h:notaport/db"}, wantErr: ErrInvalidDSN},
	{name: "invalid key value", env: map[string]string{EnvDatabaseURL: "host=h password='" + testPassword}, wantErr: ErrInvalidDSN},
	{name: "development allows clear text", env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=disable"}},
	{name: "production refuses disable", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=disable"}, wantErr: ErrInsecureDSN},
	{name: "production refuses allow", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=allow"}, wantErr: ErrInsecureDSN},
	{name: "production refuses prefer", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=prefer"}, wantErr: ErrInsecureDSN},
	{name: "production refuses the default mode", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@10.0.0.5/b"}, wantErr: ErrInsecureDSN},
	{name: "production refuses key value disable", production: true, env: map[string]string{EnvDatabaseURL: "host=db.internal user=u password=" + testPassword + " sslmode=disable"}, wantErr: ErrInsecureDSN},
	{name: "production refuses one clear host of two", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@127.0.0.1,db.internal/b?sslmode=disable"}, wantErr: ErrInsecureDSN},
	{name: "production accepts require", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=require"}},
	{name: "production accepts verify-full", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@db.internal/b?sslmode=verify-full"}},
	{name: "production accepts loopback clear text", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@127.0.0.1:5432/b?sslmode=disable"}},
	{name: "production accepts localhost", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@localhost/b?sslmode=disable"}},
	{name: "production accepts ipv6 loopback", production: true, env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@[::1]:5432/b?sslmode=disable"}},
	{name: "production accepts unix socket", production: true, env: map[string]string{EnvDatabaseURL: "host=/var/run/postgresql user=u password=" + testPassword + " sslmode=disable"}},
	{name: "own variable", dsnEnv: "PG_URL", env: map[string]string{"PG_URL": "postgres://u:" + testPassword + "@h/b"}},
	{name: "own variable ignores the default one", dsnEnv: "PG_URL", env: map[string]string{EnvDatabaseURL: "postgres://u@h/b"}, wantErr: ErrNoDSN},
}

func TestPostgresDSN(t *testing.T) {
	for _, tt := range dsnCases {
		t.Run(tt.name, func(t *testing.T) {
			d := Database{Driver: DriverPostgres, DSNEnv: tt.dsnEnv}
			dsn, err := d.PostgresDSN(env(tt.env), tt.production)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PostgresDSN = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), testPassword) {
					t.Fatalf("error shows the password: %v", err)
				}
				if !strings.Contains(err.Error(), d.DSNVariable()) {
					t.Fatalf("error does not name the variable: %v", err)
				}
				return
			}
			if dsn != tt.env[d.DSNVariable()] {
				t.Fatalf("dsn = %q", dsn)
			}
		})
	}
}

// FuzzPostgresDSNErrorsIgnorePassword checks that what PostgresDSN says
// does not depend on the password: the same string with another password
// gives the same error text (or, for a password no server accepts, one
// that is not valid).
func FuzzPostgresDSNErrorsIgnorePassword(f *testing.F) {
	for _, tt := range dsnCases {
		if u, err := url.Parse(tt.env[EnvDatabaseURL]); err == nil && u.Scheme == "postgres" {
			f.Add(u.Host, testPassword, u.Query().Get("sslmode"), tt.production)
		}
	}
	f.Fuzz(func(t *testing.T, host, password, sslmode string, production bool) {
		build := func(pw string) string {
			u := url.URL{Scheme: "postgres", User: url.UserPassword("u", pw), Host: host, Path: "/b"}
			if sslmode != "" {
				u.RawQuery = url.Values{"sslmode": {sslmode}}.Encode()
			}
			return u.String()
		}
		d := Database{Driver: DriverPostgres}
		_, err1 := d.PostgresDSN(env(map[string]string{EnvDatabaseURL: build(password)}), production)
		_, err2 := d.PostgresDSN(env(map[string]string{EnvDatabaseURL: build("other")}), production)
		if errors.Is(err1, ErrInvalidDSN) && !errors.Is(err2, ErrInvalidDSN) {
			return // a malformed password (a NUL byte) makes the string invalid
		}
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("errors depend on the password: %v / %v", err1, err2)
		}
	})
}
