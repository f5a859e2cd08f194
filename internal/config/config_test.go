package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8787" || c.DataDir != "./bulwark-data" || c.Env != Development {
		t.Fatalf("defaults = %q %q %q", c.Listen, c.DataDir, c.Env)
	}
	if c.HTTP.MaxBodyBytes != 32<<20 {
		t.Fatalf("body cap %d, want 32 MiB", c.HTTP.MaxBodyBytes)
	}
	if !IsLoopback(c.Listen) {
		t.Fatal("default listener is not loopback")
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := Load("", env(map[string]string{EnvListen: "127.0.0.1:9", EnvDataDir: "/tmp/x", EnvMode: Production,
		EnvMasterKey: "k", EnvMasterKeyFile: "/f"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9" || c.DataDir != "/tmp/x" || c.Env != Production || c.MasterKey() != "k" || c.MasterKeyFile != "/f" {
		t.Fatalf("overrides not applied: %+v", c)
	}
}

func TestStrictDecode(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown top-level field names field and line", "listen: 127.0.0.1:1\nlisten_addr: x\n", "line 2: field listen_addr not found"},
		{"unknown nested field", "http:\n  max_body: 3\n", "line 2: field max_body not found"},
		{"type mismatch", "http:\n  max_body_bytes: lots\n", "line 2"},
		{"bad duration", "http:\n  idle_timeout: forever\n", "line 2"},
		{"write stall below the clock's reach", "http:\n  write_stall_timeout: 100ms\n", "write_stall_timeout"},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", "more than one YAML document"},
		{"invalid mode", "env: staging\n", `env: "staging"`},
		{"cors wildcard with credentials", "cors:\n  allowed_origins: ['*']\n  allow_credentials: true\n", "cors"},
		{"bad provider type", "providers:\n  - {name: x, type: magic, base_url: http://h}\n", "providers[0].type"},
		{"duplicate provider", "providers:\n  - {name: x, type: mock}\n  - {name: x, type: mock}\n", "declared twice"},
		{"alias without provider", "models:\n  fast: gpt-4o\n", "models.fast"},
		{"metrics beyond loopback", "metrics:\n  listen: 0.0.0.0:9100\n", "metrics.listen"},
		{"bad trusted proxy", "trusted_proxies: [nonsense]\n", "trusted_proxies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidFileLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	data := `listen: 127.0.0.1:9999
http:
  max_body_bytes: 1024
  read_header_timeout: 3s
providers:
  - name: openai
    type: openai
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
models:
  fast: openai/gpt-4o-mini
trusted_proxies: [10.0.0.0/8, 192.168.1.1]
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxBodyBytes != 1024 || c.HTTP.ReadHeaderTimeout.Seconds() != 3 || c.Providers[0].APIKeyEnv != "OPENAI_API_KEY" {
		t.Fatalf("decoded %+v", c)
	}
	if c.HTTP.IdleTimeout == 0 {
		t.Fatal("defaults lost for fields the file did not set")
	}
}

func TestProductionRefusals(t *testing.T) {
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mut     func(*Config)
		wantErr string // "" = must start
	}{
		{"no master key", func(c *Config) { c.masterKey = "" }, "needs a master key"},
		{"beyond loopback without TLS", func(c *Config) { c.Listen = "0.0.0.0:8787" }, "without TLS"},
		{"all interfaces without TLS", func(c *Config) { c.Listen = ":8787" }, "without TLS"},
		{"group-readable data dir", func(c *Config) { c.DataDir = open }, "chmod 700"},
		{"beyond loopback with TLS proxy declared", func(c *Config) { c.Listen = "0.0.0.0:8787"; c.BehindTLSProxy = true }, ""},
		{"beyond loopback with TLS", func(c *Config) { c.Listen = "0.0.0.0:8787"; c.TLS = TLS{CertFile: "c", KeyFile: "k"} }, ""},
		{"loopback with key", func(c *Config) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Env, c.DataDir, c.masterKey = Production, private, "x"
			tt.mut(c)
			_, err := c.CheckProduction()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDevelopmentBeyondLoopbackWarns(t *testing.T) {
	c := Default()
	c.Listen = "0.0.0.0:8787"
	w, err := c.CheckProduction()
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "beyond loopback") {
		t.Fatalf("warnings=%v err=%v", w, err)
	}
	c.Listen = "[::1]:8787"
	if w, _ := c.CheckProduction(); len(w) != 0 {
		t.Fatalf("loopback warned: %v", w)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:1\n"))
	f.Add([]byte("providers:\n  - {name: x, type: mock}\n"))
	f.Add([]byte("http:\n  idle_timeout: 3s\n"))
	f.Add([]byte("a: [\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := Decode(data, c); err != nil {
			return
		}
		_ = c.Validate() // must not panic on anything that decodes
	})
}
