package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Tools configures the MCP tool server at /mcp. Every tool is off unless
// enabled here, and every call also needs the tool's scope on the key.
type Tools struct {
	// WorkspaceRoot holds one directory per tenant for the file, git and
	// exec tools.
	WorkspaceRoot string   `yaml:"workspace_root"`
	BaseURL       string   `yaml:"base_url"`        // public URL of this gateway, for OAuth metadata
	AllowOrigins  []string `yaml:"allowed_origins"` // browser origins allowed on /mcp
	// CallsPerMinute limits calls per key and tool (default 60).
	CallsPerMinute int `yaml:"calls_per_minute"`
	// Limits replaces CallsPerMinute for the tools it names (tool name →
	// calls per minute, still per key and tool), e.g. {exec: 5, time_now: 600}.
	Limits map[string]int `yaml:"limits"`
	// Sandbox configures the bubblewrap sandbox git and exec run in.
	Sandbox Sandbox `yaml:"sandbox"`

	FS      Toggle     `yaml:"fs"`
	FSWrite Toggle     `yaml:"fs_write"`
	Fetch   FetchTool  `yaml:"fetch"`
	SQL     SQLTool    `yaml:"sql"`
	Env     EnvTool    `yaml:"env"`
	Time    Toggle     `yaml:"time"`
	Git     GitTool    `yaml:"git"`
	Exec    ExecTool   `yaml:"exec"`
	OAuth   OAuthTools `yaml:"oauth"`
}

// Toggle enables a tool that has no other settings.
type Toggle struct {
	Enabled bool `yaml:"enabled"`
}

// FetchTool configures http_fetch.
type FetchTool struct {
	Enabled       bool     `yaml:"enabled"`
	AllowHosts    []string `yaml:"allow_hosts"`    // internal host names the operator allows
	AllowPrefixes []string `yaml:"allow_prefixes"` // internal address ranges the operator allows
	RootCAFile    string   `yaml:"root_ca_file"`
}

// SQLTool configures sql_query.
type SQLTool struct {
	Enabled   bool                   `yaml:"enabled"`
	Databases map[string]SQLDatabase `yaml:"databases"`
}

// SQLDatabase is one operator-configured database.
type SQLDatabase struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	Path   string `yaml:"path"`
	DSN    string `yaml:"dsn"`
}

// EnvTool configures env_get.
type EnvTool struct {
	Enabled bool     `yaml:"enabled"`
	Allow   []string `yaml:"allow"` // exact names
}

// GitTool configures the git tool.
type GitTool struct {
	Enabled bool       `yaml:"enabled"`
	Network GitNetwork `yaml:"network"`
}

// GitNetwork configures git's network operations.
type GitNetwork struct {
	Enabled    bool     `yaml:"enabled"`
	AllowHosts []string `yaml:"allow_hosts"`
}

// ExecTool configures the sandboxed exec tool.
type ExecTool struct {
	Enabled  bool          `yaml:"enabled"`
	Commands []ExecCommand `yaml:"commands"`
	Limits   ExecLimits    `yaml:"limits"`
}

// ExecCommand is one allowlisted program.
type ExecCommand struct {
	Path        string `yaml:"path"`
	ArgsPattern string `yaml:"args_pattern"`
}

// ExecLimits bound one sandboxed run (zero: the sandbox's defaults).
type ExecLimits struct {
	Processes  int           `yaml:"processes"`
	MemoryMB   int64         `yaml:"memory_mb"`
	FileSizeMB int64         `yaml:"file_size_mb"`
	CPUSeconds int           `yaml:"cpu_seconds"`
	Timeout    time.Duration `yaml:"timeout"`
	OutputKB   int64         `yaml:"output_kb"`
}

// Sandbox locates the sandbox's programs and the unprivileged ids it runs
// as when Bulwark runs as root. Zero values take the sandbox package's
// defaults (/usr/bin/bwrap, /usr/bin/prlimit, uid and gid 65534).
type Sandbox struct {
	BwrapPath   string `yaml:"bwrap_path"`
	PrlimitPath string `yaml:"prlimit_path"`
	RunAsUID    int    `yaml:"run_as_uid"`
	RunAsGID    int    `yaml:"run_as_gid"`
}

// ToolNames are the names of the built-in tools, the keys tools.limits
// accepts.
var ToolNames = []string{"env_get", "exec", "fs_list", "fs_read", "fs_search", "fs_write", "git", "http_fetch", "sql_query", "time_now"}

// OAuthTools configures tokens accepted on /mcp (and the LLM API).
type OAuthTools struct {
	TokenTTL      time.Duration `yaml:"token_ttl"` // Bulwark-issued tokens (default 15m)
	Introspection Introspection `yaml:"introspection"`
}

// Introspection configures an RFC 7662 token introspection endpoint.
type Introspection struct {
	Endpoint        string            `yaml:"endpoint"`
	ClientID        string            `yaml:"client_id"`
	ClientSecretEnv string            `yaml:"client_secret_env"` // the secret is read from this variable
	Tenants         map[string]string `yaml:"tenants"`           // subject or client_id → tenant
	MaxCacheTTL     time.Duration     `yaml:"max_cache_ttl"`     // cap on caching an active answer (default 5m)
	MaxEntries      int               `yaml:"max_entries"`       // active answers kept (default 10 000)
	// NegativeCacheTTL is how long a refusal (inactive, expired, foreign
	// audience, unmapped subject) is remembered (default 30s, at most 5m);
	// NegativeCacheEntries caps how many are (default 10 000).
	NegativeCacheTTL     time.Duration `yaml:"negative_cache_ttl"`
	NegativeCacheEntries int           `yaml:"negative_cache_entries"`
}

// maxNegativeCacheTTL mirrors oauth.MaxNegativeCacheTTL (config does not
// import the OAuth package): a refusal remembered longer keeps a token out
// after the authorization server accepts it.
const maxNegativeCacheTTL = 5 * time.Minute

func (in *Introspection) validate() []error {
	var errs []error
	if in.ClientSecretEnv != "" && !envName.MatchString(in.ClientSecretEnv) {
		errs = append(errs, fmt.Errorf("tools.oauth.introspection.client_secret_env: %q is not a variable name", in.ClientSecretEnv))
	}
	if len(in.Tenants) == 0 {
		errs = append(errs, errors.New("tools.oauth.introspection.tenants: map each subject or client_id to a tenant"))
	}
	if in.MaxCacheTTL < 0 || in.MaxEntries < 0 || in.NegativeCacheTTL < 0 || in.NegativeCacheEntries < 0 {
		errs = append(errs, errors.New("tools.oauth.introspection: max_cache_ttl, max_entries, negative_cache_ttl and negative_cache_entries must not be negative"))
	}
	if in.NegativeCacheTTL > maxNegativeCacheTTL {
		errs = append(errs, fmt.Errorf("tools.oauth.introspection.negative_cache_ttl: %v is longer than %v", in.NegativeCacheTTL, maxNegativeCacheTTL))
	}
	return errs
}

// AnyEnabled reports whether any tool is enabled.
func (t *Tools) AnyEnabled() bool {
	return t.FS.Enabled || t.FSWrite.Enabled || t.Fetch.Enabled || t.SQL.Enabled || t.Env.Enabled ||
		t.Time.Enabled || t.Git.Enabled || t.Exec.Enabled
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (t *Tools) validate() []error {
	var errs []error
	needsWorkspace := t.FS.Enabled || t.FSWrite.Enabled || t.Git.Enabled || t.Exec.Enabled
	if needsWorkspace && t.WorkspaceRoot == "" {
		errs = append(errs, errors.New("tools.workspace_root: required when fs, fs_write, git or exec is enabled"))
	}
	if t.WorkspaceRoot != "" && !filepath.IsAbs(t.WorkspaceRoot) {
		errs = append(errs, fmt.Errorf("tools.workspace_root: %q must be an absolute path", t.WorkspaceRoot))
	}
	if t.CallsPerMinute < 0 {
		errs = append(errs, errors.New("tools.calls_per_minute: must not be negative"))
	}
	errs = append(errs, t.validateLimits()...)
	errs = append(errs, t.Sandbox.validate()...)
	for name, db := range t.SQL.Databases {
		switch db.Driver {
		case "sqlite":
			if db.Path == "" {
				errs = append(errs, fmt.Errorf("tools.sql.databases.%s.path: required for sqlite", name))
			}
		case "postgres":
			if db.DSN == "" {
				errs = append(errs, fmt.Errorf("tools.sql.databases.%s.dsn: required for postgres", name))
			}
		default:
			errs = append(errs, fmt.Errorf("tools.sql.databases.%s.driver: %q is not sqlite or postgres", name, db.Driver))
		}
	}
	for _, n := range t.Env.Allow {
		if !envName.MatchString(n) {
			errs = append(errs, fmt.Errorf("tools.env.allow: %q is not an exact variable name (no patterns)", n))
		}
	}
	for i, c := range t.Exec.Commands {
		if !filepath.IsAbs(c.Path) {
			errs = append(errs, fmt.Errorf("tools.exec.commands[%d].path: %q must be absolute", i, c.Path))
		}
		if _, err := regexp.Compile(c.ArgsPattern); err != nil {
			errs = append(errs, fmt.Errorf("tools.exec.commands[%d].args_pattern: %w", i, err))
		}
	}
	if l := t.Exec.Limits; l.Processes < 0 || l.MemoryMB < 0 || l.FileSizeMB < 0 || l.CPUSeconds < 0 || l.Timeout < 0 || l.OutputKB < 0 {
		errs = append(errs, errors.New("tools.exec.limits: values must not be negative"))
	}
	if t.Exec.Enabled && len(t.Exec.Commands) == 0 {
		errs = append(errs, errors.New("tools.exec.commands: exec is enabled but allowlists no command"))
	}
	if in := t.OAuth.Introspection; in.Endpoint != "" {
		errs = append(errs, in.validate()...)
	}
	return errs
}

// validateLimits refuses per-tool limits for tools that do not exist (a
// typo would otherwise leave the tool on the default limit) and
// non-positive ones (use the tool's enabled switch to turn it off).
func (t *Tools) validateLimits() []error {
	var errs []error
	for name, n := range t.Limits {
		if !slices.Contains(ToolNames, name) {
			errs = append(errs, fmt.Errorf("tools.limits.%s: no such tool (one of %s)", name, strings.Join(ToolNames, ", ")))
		}
		if n <= 0 {
			errs = append(errs, fmt.Errorf("tools.limits.%s: must be a positive number of calls per minute", name))
		}
	}
	return errs
}

func (s Sandbox) validate() []error {
	var errs []error
	for _, p := range []struct{ field, path string }{{"bwrap_path", s.BwrapPath}, {"prlimit_path", s.PrlimitPath}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			errs = append(errs, fmt.Errorf("tools.sandbox.%s: %q must be an absolute path (never looked up in PATH)", p.field, p.path))
		}
	}
	if s.RunAsUID < 0 || s.RunAsGID < 0 {
		errs = append(errs, errors.New("tools.sandbox.run_as_uid/run_as_gid: must be positive (0 means the default, 65534; root is never used)"))
	}
	return errs
}
