package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/provider"
)

// providerName is what may stand before the "/" of a model address.
var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks what can be checked without touching the filesystem.
// Production rules that need the filesystem or the key are in
// CheckProduction.
func (c *Config) Validate() error {
	var errs []error
	if c.Env != Development && c.Env != Production {
		errs = append(errs, fmt.Errorf("env: %q is not %q or %q", c.Env, Development, Production))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if c.HTTP.MaxBodyBytes <= 0 || c.HTTP.MaxHeaderBytes <= 0 {
		errs = append(errs, errors.New("http: max_body_bytes and max_header_bytes must be positive"))
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.IdleTimeout <= 0 || c.HTTP.ShutdownTimeout <= 0 || c.HTTP.BodyReadTimeout <= 0 {
		errs = append(errs, errors.New("http: timeouts must be positive"))
	}
	if c.HTTP.WriteStallTimeout < time.Second {
		errs = append(errs, errors.New("http: write_stall_timeout must be at least 1s"))
	}
	if c.Auth.FailuresPerMinute <= 0 {
		errs = append(errs, errors.New("auth: failures_per_minute must be positive"))
	}
	if c.Audit.RetentionDays < 0 {
		errs = append(errs, errors.New("audit: retention_days must not be negative"))
	}
	if slices.Contains(c.CORS.AllowedOrigins, "*") && c.CORS.AllowCredentials {
		errs = append(errs, errors.New(`cors: "*" cannot be combined with allow_credentials`))
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("trusted_proxies: %w", err))
		}
	}
	if c.Metrics.Listen != "" && !IsLoopback(c.Metrics.Listen) {
		errs = append(errs, fmt.Errorf("metrics.listen: %q must be a loopback address (it serves without authentication)", c.Metrics.Listen))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	errs = append(errs, c.validateProviders()...)
	errs = append(errs, c.Tools.validate()...)
	errs = append(errs, c.validateRouting()...)
	errs = append(errs, c.Guard.validate()...)
	errs = append(errs, c.Database.validate()...)
	return errors.Join(errs...)
}

func (c *Config) validateProviders() []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Providers {
		where := fmt.Sprintf("providers[%d]", i)
		if !providerName.MatchString(p.Name) {
			errs = append(errs, fmt.Errorf("%s.name: %q must match %s", where, p.Name, providerName))
		}
		key := p.Tenant + "/" + p.Name
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s.name: %q declared twice", where, p.Name))
		}
		seen[key] = true
		switch p.Type {
		case "openai", "anthropic", "mock", "gemini":
		default:
			errs = append(errs, fmt.Errorf("%s.type: %q is not openai, anthropic, gemini or mock", where, p.Type))
		}
		if err := c.CheckCredentialEnv(p.APIKeyEnv); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if p.Type != "mock" {
			if err := provider.CheckBaseURL(p.BaseURL); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	for alias, target := range c.Models {
		if !strings.Contains(target, "/") {
			errs = append(errs, fmt.Errorf("models.%s: %q must be <provider>/<model>", alias, target))
		}
	}
	return errs
}

// CheckProduction applies the rules production mode refuses to start
// without. Each error names the fix. In development it returns the
// warnings to print instead (nil error).
func (c *Config) CheckProduction() (warnings []string, err error) {
	beyond := !IsLoopback(c.Listen)
	if !c.Production() {
		if beyond {
			warnings = append(warnings, fmt.Sprintf(
				"WARNING: listening on %s, beyond loopback, in development mode: anyone who can reach this address can try keys. Use BULWARK_ENV=production with TLS for real deployments.", c.Listen))
		}
		return warnings, nil
	}
	if c.masterKey == "" && c.MasterKeyFile == "" {
		return nil, errors.New("production mode needs a master key: set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE (32 random bytes, hex or base64)")
	}
	if beyond && !c.TLS.Enabled() && !c.BehindTLSProxy {
		return nil, fmt.Errorf("production mode refuses to listen on %s without TLS: set tls.cert_file/tls.key_file, or behind_tls_proxy: true if a TLS-terminating proxy is in front", c.Listen)
	}
	if fi, err := os.Stat(c.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("data dir %s is readable by group or others (mode %o): run chmod 700 %s", c.DataDir, fi.Mode().Perm(), c.DataDir)
	}
	return nil, nil
}

// IsLoopback reports whether the host of a host:port listen address is a
// loopback address or "localhost". An empty host (":8787") means every
// interface and is not loopback.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ParsePrefix parses a CIDR or a single address as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR: %w", s, err)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// CheckCredentialEnv refuses environment variable names a provider may not
// read its credential from: Bulwark's own variables (the master key among
// them) are never an upstream credential, whoever configures the provider.
func CheckCredentialEnv(name string) error {
	if name == "" {
		return nil
	}
	if !envNameRe.MatchString(name) {
		return fmt.Errorf("api_key_env %q is not an environment variable name", name)
	}
	if strings.HasPrefix(strings.ToUpper(name), "BULWARK_") {
		return fmt.Errorf("api_key_env %q: Bulwark's own variables cannot be provider credentials", name)
	}
	return nil
}

// CheckCredentialEnv is the package function plus the variables this
// configuration reads its own secrets from — the database DSN, the Redis
// URL, the introspection client secret — whatever they are named: a
// provider reading one would send it upstream as its credential.
func (c *Config) CheckCredentialEnv(name string) error {
	if err := CheckCredentialEnv(name); err != nil || name == "" {
		return err
	}
	for _, own := range []string{c.Database.DSNVariable(), c.Redis.URLVariable(), c.Tools.OAuth.Introspection.ClientSecretEnv} {
		if own != "" && name == own {
			return fmt.Errorf("api_key_env %q holds one of Bulwark's own secrets in this configuration; it cannot be a provider credential", name)
		}
	}
	return nil
}
