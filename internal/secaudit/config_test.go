package secaudit

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
)

// goodConfig is a production-like configuration no config check flags.
func goodConfig() *config.Config {
	c := config.Default()
	c.MasterKeyFile = "/run/secrets/bulwark.key"
	return c
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		getenv map[string]string
		want   string // the finding expected; "" for none
		sev    Severity
	}{
		{"defaults with a key file", func(*config.Config) {}, nil, "", 0},
		{"all interfaces, no TLS", func(c *config.Config) { c.Listen, c.Env = ":8787", config.Production }, nil, "BW-CFG-001", High},
		{"all interfaces with TLS", func(c *config.Config) {
			c.Listen, c.Env = "0.0.0.0:8787", config.Production
			c.TLS = config.TLS{CertFile: "c", KeyFile: "k"}
		}, nil, "", 0},
		{"all interfaces behind a TLS proxy", func(c *config.Config) {
			c.Listen, c.Env, c.BehindTLSProxy = "0.0.0.0:8787", config.Production, true
		}, nil, "", 0},
		{"development beyond loopback", func(c *config.Config) {
			c.Listen, c.BehindTLSProxy = "10.0.0.5:8787", true
		}, nil, "BW-CFG-002", Medium},
		{"CORS star", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example", "*"} }, nil, "BW-CFG-003", Medium},
		{"CORS exact origins", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example"} }, nil, "", 0},
		{"trusted proxy 0.0.0.0/0", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.1", "0.0.0.0/0"} }, nil, "BW-CFG-004", High},
		{"trusted proxy ::/0", func(c *config.Config) { c.TrustedProxies = []string{"::/0"} }, nil, "BW-CFG-004", High},
		{"trusted proxy one address", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.1", "fd00::/64"} }, nil, "", 0},
		{"generated master key", func(c *config.Config) { c.MasterKeyFile = "" }, nil, "BW-CFG-005", High},
		{"master key in the environment", func(c *config.Config) { c.MasterKeyFile = ""; c.SetMasterKey("x") }, nil, "BW-CFG-006", Low},
		{"tenant guard off", func(c *config.Config) {
			c.Guard.Tenants = map[string]config.GuardPolicy{"acme": {Secrets: "off"}}
		}, nil, "BW-CFG-007", Medium},
		{"tenant guard log", func(c *config.Config) {
			c.Guard.Tenants = map[string]config.GuardPolicy{"acme": {Secrets: "log", PII: "redact"}}
		}, nil, "", 0},
		{"exec without bwrap", func(c *config.Config) {
			c.Tools.Exec.Enabled = true
			c.Tools.Sandbox.BwrapPath = "/nonexistent/bwrap"
		}, nil, "BW-CFG-008", High},
		{"fetch allows the metadata range", func(c *config.Config) {
			c.Tools.Fetch = config.FetchTool{Enabled: true, AllowPrefixes: []string{"169.254.0.0/16"}}
		}, nil, "BW-CFG-009", High},
		{"fetch allows everything", func(c *config.Config) {
			c.Tools.Fetch = config.FetchTool{Enabled: true, AllowPrefixes: []string{"0.0.0.0/0"}}
		}, nil, "BW-CFG-009", High},
		{"fetch allows a private range", func(c *config.Config) {
			c.Tools.Fetch = config.FetchTool{Enabled: true, AllowPrefixes: []string{"10.1.2.0/24"}}
		}, nil, "BW-CFG-009", Medium},
		{"fetch allows a public range", func(c *config.Config) {
			c.Tools.Fetch = config.FetchTool{Enabled: true, AllowPrefixes: []string{"203.0.113.0/24"}}
		}, nil, "", 0},
		{"sql URL DSN with password", func(c *config.Config) {
			c.Tools.SQL = config.SQLTool{Enabled: true, Databases: map[string]config.SQLDatabase{
				"crm": {Driver: "postgres", DSN: "postgres://app:hunter2@db/crm"}}}
		}, nil, "BW-CFG-010", High},
		{"sql keyword DSN with password", func(c *config.Config) {
			c.Tools.SQL = config.SQLTool{Enabled: true, Databases: map[string]config.SQLDatabase{
				"crm": {Driver: "postgres", DSN: "host=db user=app password=hunter2 dbname=crm"}}}
		}, nil, "BW-CFG-010", High},
		{"sql DSN without password", func(c *config.Config) {
			c.Tools.SQL = config.SQLTool{Enabled: true, Databases: map[string]config.SQLDatabase{
				"crm": {Driver: "postgres", DSN: "postgres://app@db/crm"}}}
		}, nil, "", 0},
		{"env tool exposes a token", func(c *config.Config) {
			c.Tools.Env = config.EnvTool{Enabled: true, Allow: []string{"TZ", "GITHUB_TOKEN"}}
		}, nil, "BW-CFG-011", Medium},
		{"env tool exposes plain names", func(c *config.Config) {
			c.Tools.Env = config.EnvTool{Enabled: true, Allow: []string{"TZ", "LANG"}}
		}, nil, "", 0},
		{"provider variable unset", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKeyEnv: "OA_KEY"}}
		}, nil, "BW-PRV-002", High},
		{"provider variable set", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKeyEnv: "OA_KEY"}}
		}, map[string]string{"OA_KEY": "sk-x"}, "", 0},
		{"provider over plain HTTP", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "oa", Type: "openai", BaseURL: "http://llm.example/v1"}}
		}, nil, "BW-PRV-003", Medium},
		{"provider over plain HTTP on loopback", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "ol", Type: "openai", BaseURL: "http://127.0.0.1:11434/v1"}}
		}, nil, "", 0},
		{"provider over plain HTTP on IPv6 loopback", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "ol", Type: "openai", BaseURL: "http://[::1]:11434/v1"}}
		}, nil, "", 0},
		{"provider over plain HTTP on IPv6 beyond loopback", func(c *config.Config) {
			c.Providers = []config.Provider{{Name: "ol", Type: "openai", BaseURL: "http://[2001:db8::10]:11434/v1"}}
		}, nil, "BW-PRV-003", Medium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodConfig()
			tt.mutate(c)
			in := Input{Config: c, Getenv: func(k string) string { return tt.getenv[k] }}
			in.defaults()
			found := checkConfig(in)
			if tt.want == "" {
				if len(found) != 0 {
					t.Fatalf("want no finding, got %+v", found)
				}
				return
			}
			f, ok := find(found, tt.want)
			if !ok {
				t.Fatalf("want %s, got %v", tt.want, ids(found))
			}
			if f.Severity != tt.sev {
				t.Fatalf("%s severity %s, want %s", tt.want, f.Severity, tt.sev)
			}
			if strings.Contains(f.Evidence, "hunter2") || strings.Contains(f.Evidence, "sk-x") {
				t.Fatalf("evidence leaks a secret: %q", f.Evidence)
			}
		})
	}
}

var dsnCases = []struct {
	dsn  string
	want bool
}{
	{"postgres://app:hunter2@db/crm", true},
	{"postgres://app:@db/crm", true},
	{"postgres://app@db/crm", false},
	{"postgres://db/crm?sslmode=require&password=x", true},
	{"host=db user=app password=x", true},
	{"host=db user=app PASSWORD = x", true}, // libpq allows spaces around =
	{"host=db user=app passwordfile=x", false},
	{"host=db user=app", false},
	{"", false},
}

func TestDSNHasPassword(t *testing.T) {
	for _, tt := range dsnCases {
		t.Run(tt.dsn, func(t *testing.T) {
			if got := dsnHasPassword(tt.dsn); got != tt.want {
				t.Fatalf("dsnHasPassword(%q) = %t, want %t", tt.dsn, got, tt.want)
			}
		})
	}
}

// FuzzDSNHasPassword: any DSN with a password= keyword or URL password is
// reported, and nothing panics.
func FuzzDSNHasPassword(f *testing.F) {
	for _, tt := range dsnCases {
		f.Add(tt.dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		got := dsnHasPassword(dsn)
		low := strings.ToLower(dsn)
		keyword := strings.HasPrefix(low, "password=") || strings.Contains(low, " password=") || strings.Contains(low, "&password=")
		if keyword && !got {
			t.Fatalf("%q sets password= but was not reported", dsn)
		}
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if _, set := u.User.Password(); set && !got {
				t.Fatalf("%q has a URL password but was not reported", dsn)
			}
		}
	})
}

func TestParseSeverity(t *testing.T) {
	for i, name := range severityNames {
		t.Run(name, func(t *testing.T) {
			for _, in := range []string{name, strings.ToUpper(name)} {
				if s, err := ParseSeverity(in); err != nil || s != Severity(i) {
					t.Fatalf("ParseSeverity(%q) = %v, %v", in, s, err)
				}
			}
		})
	}
	for _, bad := range []string{"", "severe", "hi", "critical "} {
		if _, err := ParseSeverity(bad); err == nil {
			t.Fatalf("ParseSeverity(%q) accepted", bad)
		}
	}
}

// FuzzParseSeverity: what parses round-trips through MarshalText, and
// nothing else parses.
func FuzzParseSeverity(f *testing.F) {
	for _, n := range append(slices.Clone(severityNames[:]), "", "HIGH", "severe") {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s, err := ParseSeverity(name)
		if err != nil {
			return
		}
		b, err := s.MarshalText()
		if err != nil || !strings.EqualFold(string(b), name) {
			t.Fatalf("%q parsed to %v, marshals to %q (%v)", name, s, b, err)
		}
	})
}
