package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
)

// `bulwark config validate` reports a shared backend whose URL variable is
// not set (or not usable) in the environment serve reads, naming the
// variable and never printing its value.
func TestConfigValidateChecksBackendURLs(t *testing.T) {
	const pgURL = "postgres://bulwark:Pg-pw-4b1d9@127.0.0.1:5432/b"
	const redisURL = "redis://:Redis-pw-77e2@127.0.0.1:6379/0"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // in the error output; none: validate succeeds
	}{
		{name: "postgres without BULWARK_DATABASE_URL", yaml: "database: {driver: postgres}\n",
			want: []string{"database: driver postgres needs BULWARK_DATABASE_URL"}},
		{name: "postgres with dsn_env unset", yaml: "database: {driver: postgres, dsn_env: PG_URL}\n",
			env: map[string]string{config.EnvDatabaseURL: pgURL}, want: []string{"needs PG_URL"}},
		{name: "redis without BULWARK_REDIS_URL", yaml: "limits: {backend: redis}\n",
			want: []string{"redis: limits.backend redis needs BULWARK_REDIS_URL"}},
		{name: "redis with url_env unset", yaml: "limits: {backend: redis}\nredis: {url_env: CACHE_URL}\n",
			env: map[string]string{"BULWARK_REDIS_URL": redisURL}, want: []string{"needs CACHE_URL"}},
		{name: "both missing, both named", yaml: "database: {driver: postgres}\nlimits: {backend: redis}\n",
			want: []string{"BULWARK_DATABASE_URL", "BULWARK_REDIS_URL"}},
		{name: "unparsable URL named, not printed", yaml: "limits: {backend: redis}\n",
			env: map[string]string{"BULWARK_REDIS_URL": "redis://:Redis-pw-77e2@127.0.0.1:port/0"}, want: []string{"BULWARK_REDIS_URL: not a valid Redis URL"}},
		{name: "both set", yaml: "database: {driver: postgres}\nlimits: {backend: redis}\n",
			env: map[string]string{config.EnvDatabaseURL: pgURL, "BULWARK_REDIS_URL": redisURL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{config.EnvDatabaseURL, "BULWARK_REDIS_URL", "PG_URL", "CACHE_URL"} {
				t.Setenv(k, tt.env[k])
			}
			h := newHarness(t)
			path := filepath.Join(t.TempDir(), "bulwark.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := h.run("", "config", "validate", "--config", path)
			all := out + h.logs.String()
			for _, secret := range []string{"Pg-pw-4b1d9", "Redis-pw-77e2", "127.0.0.1:port"} {
				if strings.Contains(all, secret) {
					t.Fatalf("validate printed a URL or password (%q):\n%s", secret, all)
				}
			}
			if len(tt.want) == 0 {
				if code != 0 || !strings.Contains(out, "config ok") {
					t.Fatalf("exit %d, output:\n%s", code, all)
				}
				return
			}
			if code == 0 || strings.Contains(out, "config ok") {
				t.Fatalf("validate accepted it: exit %d, output:\n%s", code, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(h.logs.String(), w) {
					t.Errorf("error output lacks %q:\n%s", w, h.logs.String())
				}
			}
		})
	}
}
