package secaudit

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/sandbox"
)

// checkConfig checks the loaded configuration: listeners, proxies, CORS,
// the master key's source, guardrails, tools and providers declared in the
// file.
func checkConfig(in Input) []Finding {
	c := in.Config
	var out []Finding
	out = append(out, checkListen(c)...)
	out = append(out, checkMasterKeySource(c)...)
	out = append(out, checkGuard(c)...)
	out = append(out, checkTools(c)...)
	for _, p := range c.Providers {
		tenant := p.Tenant
		if tenant == "" {
			tenant = "default"
		}
		out = append(out, checkProvider(in, providerRef{where: "config", tenant: tenant, name: p.Name,
			baseURL: p.BaseURL, env: p.APIKeyEnv})...)
	}
	return out
}

func checkListen(c *config.Config) []Finding {
	var out []Finding
	beyond := !config.IsLoopback(c.Listen)
	if beyond && !c.TLS.Enabled() && !c.BehindTLSProxy {
		out = append(out, Finding{ID: "BW-CFG-001", Severity: High, Title: "listener beyond loopback without TLS",
			Evidence: fmt.Sprintf("listen %s, env %s, no tls.cert_file, behind_tls_proxy false", c.Listen, c.Env),
			Fix:      "listen on 127.0.0.1 behind a TLS proxy (behind_tls_proxy: true), or set tls.cert_file and tls.key_file"})
	}
	if beyond && !c.Production() {
		out = append(out, Finding{ID: "BW-CFG-002", Severity: Medium, Title: "development mode on a non-loopback listener",
			Evidence: fmt.Sprintf("listen %s, env %s", c.Listen, c.Env),
			Fix:      "set BULWARK_ENV=production (it refuses weak secrets and insecure listeners) or listen on 127.0.0.1"})
	}
	if slices.Contains(c.CORS.AllowedOrigins, "*") {
		out = append(out, Finding{ID: "BW-CFG-003", Severity: Medium, Title: "CORS allowlist admits every origin",
			Evidence: `cors.allowed_origins contains "*"`,
			Fix:      "list the exact browser origins that need the API"})
	}
	for _, p := range c.TrustedProxies {
		if pfx, err := config.ParsePrefix(p); err == nil && pfx.Bits() == 0 {
			out = append(out, Finding{ID: "BW-CFG-004", Severity: High, Title: "every address is a trusted proxy",
				Evidence: fmt.Sprintf("trusted_proxies contains %s", pfx),
				Fix:      "list only the addresses of your reverse proxies: any client can otherwise forge X-Forwarded-For and evade per-client lockouts"})
		}
	}
	return out
}

func checkMasterKeySource(c *config.Config) []Finding {
	switch {
	case c.MasterKeyFile == "" && c.MasterKey() == "":
		return []Finding{{ID: "BW-CFG-005", Severity: High, Title: "master key generated inside the data directory",
			Evidence: fmt.Sprintf("no %s or %s; key file %s/%s (development only)", config.EnvMasterKey, config.EnvMasterKeyFile, c.DataDir, devKeyFile),
			Fix:      "keep the key apart from the data it protects: BULWARK_MASTER_KEY_FILE=/run/secrets/bulwark.key (mode 0600), then `bulwark rekey --new-key-file`"}}
	case c.MasterKey() != "":
		return []Finding{{ID: "BW-CFG-006", Severity: Low, Title: "master key given in the environment",
			Evidence: fmt.Sprintf("%s is set (a raw key or a passphrase)", config.EnvMasterKey),
			Fix:      "prefer BULWARK_MASTER_KEY_FILE: an environment is copied into crash reports and visible to same-user processes"}}
	}
	return nil
}

// checkGuard reports tenants whose file policy turns a detector off.
func checkGuard(c *config.Config) []Finding {
	tenants := []string{"default"}
	for t := range c.Guard.Tenants {
		if t != "default" {
			tenants = append(tenants, t)
		}
	}
	sort.Strings(tenants)
	var out []Finding
	for _, t := range tenants {
		p, err := c.Guard.TenantPolicy(t)
		if err != nil {
			continue // Validate refused this config already
		}
		if off := offDetectors(p); off != "" {
			out = append(out, Finding{ID: "BW-CFG-007", Severity: Medium, Title: "guardrail detectors off for a tenant",
				Evidence: fmt.Sprintf("tenant %s: %s off", t, off),
				Fix:      "use log instead of off to observe without acting (guard.tenants in the config)"})
		}
	}
	return out
}

// offDetectors names the detectors p turns off ("" when none).
func offDetectors(p guard.Policy) string {
	var off []string
	for _, d := range []struct {
		name string
		a    guard.Action
	}{{"pii", p.PII}, {"secrets", p.Secrets}, {"injection", p.Injection}} {
		if d.a == guard.Off {
			off = append(off, d.name)
		}
	}
	return strings.Join(off, ", ")
}

func checkTools(c *config.Config) []Finding {
	t := c.Tools
	var out []Finding
	if t.Exec.Enabled || t.Git.Enabled {
		sb := sandbox.Config{BwrapPath: t.Sandbox.BwrapPath, PrlimitPath: t.Sandbox.PrlimitPath,
			RunAsUID: t.Sandbox.RunAsUID, RunAsGID: t.Sandbox.RunAsGID}
		if _, err := sandbox.New(sb); err != nil {
			out = append(out, Finding{ID: "BW-CFG-008", Severity: High, Title: "exec or git tool enabled but the sandbox is unavailable",
				Evidence: fmt.Sprintf("tools.exec.enabled %t, tools.git.enabled %t; bwrap_path %q", t.Exec.Enabled, t.Git.Enabled, t.Sandbox.BwrapPath),
				Fix:      "install bubblewrap (apt-get install bubblewrap) and prlimit, or set tools.sandbox paths; serve refuses these tools without it"})
		}
	}
	if t.Fetch.Enabled {
		out = append(out, checkFetchPrefixes(t.Fetch.AllowPrefixes)...)
	}
	if t.SQL.Enabled {
		out = append(out, checkSQL(t.SQL.Databases)...)
	}
	if t.Env.Enabled {
		for _, n := range t.Env.Allow {
			if secretName(n) {
				out = append(out, Finding{ID: "BW-CFG-011", Severity: Medium, Title: "env tool exposes a variable that looks like a secret",
					Evidence: "tools.env.allow contains " + n,
					Fix:      "remove it from tools.env.allow: a model that reads it can repeat it anywhere"})
			}
		}
	}
	return out
}

// metadata is the cloud metadata address every fetch exception must keep out.
var metadata = netip.MustParseAddr("169.254.169.254")

// checkFetchPrefixes reports allowed ranges that open the private network.
func checkFetchPrefixes(prefixes []string) []Finding {
	var out []Finding
	for _, s := range prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue // serve refuses it
		}
		a := p.Addr()
		sev := Severity(-1)
		switch {
		case p.Contains(metadata) || p.Bits() <= 8:
			sev = High
		case a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast():
			sev = Medium
		}
		if sev < Info {
			continue
		}
		out = append(out, Finding{ID: "BW-CFG-009", Severity: sev, Title: "fetch tool may reach private addresses",
			Evidence: "tools.fetch.allow_prefixes contains " + p.String(),
			Fix:      "allow single hosts (tools.fetch.allow_hosts) or the narrowest range; never the metadata address 169.254.169.254"})
	}
	return out
}

// checkSQL reports DSNs that carry a password in the file.
func checkSQL(dbs map[string]config.SQLDatabase) []Finding {
	names := make([]string, 0, len(dbs))
	for n := range dbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Finding
	for _, n := range names {
		if dsnHasPassword(dbs[n].DSN) {
			out = append(out, Finding{ID: "BW-CFG-010", Severity: High, Title: "SQL tool DSN embeds a password in the config file",
				Evidence: "tools.sql.databases." + n + ".dsn (value not shown)",
				Fix:      "drop the password from the DSN and give it through PGPASSWORD or a .pgpass file readable by the service user only"})
		}
	}
	return out
}

// passwordKeyword is libpq's password setting, spaces allowed around "=".
var passwordKeyword = regexp.MustCompile(`(?i)(^|[\s?&])password\s*=`)

// dsnHasPassword recognises both DSN forms: a URL with user:password@ and
// the keyword form with password=.
func dsnHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, set := u.User.Password(); set {
			return true
		}
	}
	return passwordKeyword.MatchString(dsn) // keyword form or a URL query
}

// secretName reports whether an environment variable name looks like it
// holds a secret.
func secretName(n string) bool {
	u := strings.ToUpper(n)
	if strings.HasPrefix(u, "BULWARK_") {
		return true
	}
	for _, w := range []string{"KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}
