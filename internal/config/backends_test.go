package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// backendCases are shared by the table test and the fuzzer's seeds.
// Values carry the password testPassword, which no error may show.
var backendCases = []struct {
	name       string
	yaml       string
	env        map[string]string
	production bool
	want       []error  // nil: accepted
	names      []string // variables the error must name
}{
	{name: "embedded backends need nothing", yaml: ""},
	{name: "postgres without its URL", yaml: "database: {driver: postgres}\n",
		want: []error{ErrNoDSN}, names: []string{EnvDatabaseURL}},
	{name: "postgres with its URL", yaml: "database: {driver: postgres}\n",
		env: map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@10.0.0.7/b"}},
	{name: "postgres dsn_env unset, default set", yaml: "database: {driver: postgres, dsn_env: PG_URL}\n",
		env:  map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@10.0.0.7/b"},
		want: []error{ErrNoDSN}, names: []string{"PG_URL"}},
	{name: "postgres URL unparsable", yaml: "database: {driver: postgres}\n",
		env:  map[string]string{EnvDatabaseURL: "postgres://u:" + testPassword + "@10.0.0.7:port/b"},
		want: []error{ErrInvalidDSN}, names: []string{EnvDatabaseURL}},
	{name: "redis without its URL", yaml: "limits: {backend: redis}\n",
		want: []error{ErrNoRedisURL}, names: []string{EnvRedisURL}},
	{name: "redis url_env unset", yaml: "limits: {backend: redis}\nredis: {url_env: CACHE_URL}\n",
		env:  map[string]string{EnvRedisURL: "redis://:" + testPassword + "@10.0.0.8:6379/0"},
		want: []error{ErrNoRedisURL}, names: []string{"CACHE_URL"}},
	{name: "redis with its URL", yaml: "limits: {backend: redis}\n",
		env: map[string]string{EnvRedisURL: "redis://:" + testPassword + "@10.0.0.8:6379/0"}},
	{name: "both missing are both reported", yaml: "database: {driver: postgres}\nlimits: {backend: redis}\n",
		want: []error{ErrNoDSN, ErrNoRedisURL}, names: []string{EnvDatabaseURL, EnvRedisURL}},
	{name: "production refuses clear text beyond loopback", yaml: "database: {driver: postgres}\nlimits: {backend: redis}\n",
		env: map[string]string{
			EnvDatabaseURL: "postgres://u:" + testPassword + "@10.0.0.7/b?sslmode=disable",
			EnvRedisURL:    "redis://:" + testPassword + "@10.0.0.8:6379/0",
		}, production: true,
		want: []error{ErrInsecureDSN, ErrInsecureRedisURL}, names: []string{EnvDatabaseURL, EnvRedisURL}},
}

func TestCheckBackends(t *testing.T) {
	for _, tt := range backendCases {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if err := Decode([]byte(tt.yaml), c); err != nil {
				t.Fatal(err)
			}
			if tt.production {
				c.Env = Production
			}
			err := c.CheckBackends(env(tt.env))
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("CheckBackends = %v, want %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("CheckBackends = %v, want it to wrap %v", err, w)
				}
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %s", err, n)
				}
			}
			if err != nil && strings.Contains(err.Error(), testPassword) {
				t.Fatalf("error %q discloses a password", err)
			}
		})
	}
}

// FuzzCheckBackendsIgnoresPasswords checks that what CheckBackends says
// does not depend on the passwords in the URLs: the same URLs with other
// passwords give the same error text.
func FuzzCheckBackendsIgnoresPasswords(f *testing.F) {
	host := func(raw string) string {
		if u, err := url.Parse(raw); err == nil {
			return u.Host
		}
		return "10.0.0.7:port" // the one unparsable case
	}
	for _, tt := range backendCases {
		f.Add(host(tt.env[EnvDatabaseURL]), host(tt.env[EnvRedisURL]), testPassword, tt.production)
	}
	f.Fuzz(func(t *testing.T, pgHost, redisHost, password string, production bool) {
		c := Default()
		c.Database.Driver, c.Limits.Backend = DriverPostgres, BackendRedis
		if production {
			c.Env = Production
		}
		check := func(pw string) error {
			pg := url.URL{Scheme: "postgres", User: url.UserPassword("u", pw), Host: pgHost, Path: "/b"}
			rd := url.URL{Scheme: "redis", User: url.UserPassword("", pw), Host: redisHost, Path: "/0"}
			return c.CheckBackends(env(map[string]string{EnvDatabaseURL: pg.String(), EnvRedisURL: rd.String()}))
		}
		err1, err2 := check(password), check("other")
		if (errors.Is(err1, ErrInvalidDSN) && !errors.Is(err2, ErrInvalidDSN)) ||
			(errors.Is(err1, ErrInvalidRedisURL) && !errors.Is(err2, ErrInvalidRedisURL)) {
			return // a malformed password (a NUL byte) makes a URL invalid
		}
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("errors depend on the password: %v / %v", err1, err2)
		}
	})
}
