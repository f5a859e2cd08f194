// Package config decodes Bulwark's YAML configuration strictly (an unknown
// field is an error naming the field and its line), applies defaults and
// environment overrides, and validates the result — including the rules
// production mode enforces before anything listens.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Environment variables that override the file.
const (
	EnvConfig        = "BULWARK_CONFIG"
	EnvListen        = "BULWARK_LISTEN"
	EnvDataDir       = "BULWARK_DATA_DIR"
	EnvMode          = "BULWARK_ENV"
	EnvMasterKey     = "BULWARK_MASTER_KEY"
	EnvMasterKeyFile = "BULWARK_MASTER_KEY_FILE"
)

// Modes.
const (
	Development = "development"
	Production  = "production"
)

// Config is Bulwark's whole configuration. The zero value is not useful:
// use Load or Default.
type Config struct {
	Listen  string `yaml:"listen"`
	DataDir string `yaml:"data_dir"`
	Env     string `yaml:"env"`
	// MasterKeyFile is a path to the root key (hex or base64 of 32 bytes),
	// mode 0600. The key itself never goes in this file: use the
	// environment or the key file.
	MasterKeyFile string `yaml:"master_key_file"`

	TLS            TLS      `yaml:"tls"`
	BehindTLSProxy bool     `yaml:"behind_tls_proxy"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	CORS           CORS     `yaml:"cors"`
	HTTP           HTTP     `yaml:"http"`
	Auth           Auth     `yaml:"auth"`
	Audit          Audit    `yaml:"audit"`
	Metrics        Metrics  `yaml:"metrics"`
	Log            Log      `yaml:"log"`

	Providers        []Provider             `yaml:"providers"`
	Models           map[string]string      `yaml:"models"`
	DefaultProviders map[string]string      `yaml:"default_providers"`
	AnthropicBetas   []string               `yaml:"anthropic_betas"`
	Prices           map[string]usage.Price `yaml:"prices"`

	Tools Tools `yaml:"tools"`

	Routing     Routing     `yaml:"routing"`
	Limits      Limits      `yaml:"limits"`
	Idempotency Idempotency `yaml:"idempotency"`
	Guard       Guard       `yaml:"guard"` // guardrail policies (guard.go)

	Database Database `yaml:"database"` // state and audit store (database.go)
	Redis    Redis    `yaml:"redis"`    // shared limits, breakers, idempotency (redis.go)

	// masterKey holds BULWARK_MASTER_KEY; it is never decoded from the file
	// and never printed.
	masterKey string
}

// TLS configures serving HTTPS directly.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// CORS is the cross-origin allowlist (empty: no cross-origin access).
type CORS struct {
	AllowedOrigins   []string `yaml:"allowed_origins"`
	AllowCredentials bool     `yaml:"allow_credentials"`
}

// HTTP holds listener limits and timeouts.
type HTTP struct {
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyReadTimeout bounds how long a request body may take to arrive.
	BodyReadTimeout time.Duration `yaml:"body_read_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// WriteStallTimeout bounds a write to a client that makes no progress
	// (a client that stopped reading an answer); at least 1s.
	WriteStallTimeout time.Duration `yaml:"write_stall_timeout"`
}

// Auth tunes authentication.
type Auth struct {
	// FailuresPerMinute is how many failed attempts a client may make in a
	// minute before it is locked out with exponential backoff.
	FailuresPerMinute int `yaml:"failures_per_minute"`
}

// Audit tunes the audit log.
type Audit struct {
	// RetentionDays purges entries older than this; 0 keeps everything.
	RetentionDays int `yaml:"retention_days"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen, when set, serves /metrics unauthenticated on a separate
	// listener, which must be loopback. Otherwise /metrics on the main
	// listener needs a key with the admin scope.
	Listen string `yaml:"listen"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"` // debug, info, warn, error
}

// Provider declares an upstream in the file. Credentials are referenced by
// environment variable name, never written in the file.
type Provider struct {
	Name      string   `yaml:"name"`
	Type      string   `yaml:"type"`
	BaseURL   string   `yaml:"base_url"`
	Models    []string `yaml:"models"`
	APIKeyEnv string   `yaml:"api_key_env"`
	Tenant    string   `yaml:"tenant"`
}

// Default returns the built-in defaults: loopback, ./bulwark-data,
// development mode.
func Default() *Config {
	return &Config{
		Listen:  "127.0.0.1:8787",
		DataDir: "./bulwark-data",
		Env:     Development,
		HTTP: HTTP{
			MaxBodyBytes:      32 << 20,
			MaxHeaderBytes:    64 << 10,
			ReadHeaderTimeout: 10 * time.Second,
			BodyReadTimeout:   60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			WriteStallTimeout: 60 * time.Second,
		},
		Auth:    Auth{FailuresPerMinute: 20},
		Log:     Log{Level: "info"},
		Routing: defaultRouting(),
	}
}

// Load reads the file at path (if path is non-empty), applies environment
// overrides from getenv, and validates. Pass os.Getenv in production code.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := Decode(data, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.applyEnv(getenv)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Decode strictly decodes YAML into c: an unknown field, a type mismatch or
// a second document is an error naming the line.
func Decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is the defaults
		}
		return fmt.Errorf("decode: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("decode: more than one YAML document")
	}
	return nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv(EnvListen); v != "" {
		c.Listen = v
	}
	if v := getenv(EnvDataDir); v != "" {
		c.DataDir = v
	}
	if v := getenv(EnvMode); v != "" {
		c.Env = v
	}
	if v := getenv(EnvMasterKeyFile); v != "" {
		c.MasterKeyFile = v
	}
	c.masterKey = getenv(EnvMasterKey)
}

// MasterKey returns the master key given in the environment, if any.
func (c *Config) MasterKey() string { return c.masterKey }

// SetMasterKey sets the master key (tests and callers reading it from a
// secure source).
func (c *Config) SetMasterKey(k string) { c.masterKey = k }

// Production reports whether production-mode rules apply.
func (c *Config) Production() bool { return c.Env == Production }
