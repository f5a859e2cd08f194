package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvRedisURL is the environment variable that holds the Redis URL unless
// redis.url_env names another. The URL may carry a password, so it is never
// read from the file or the command line.
const EnvRedisURL = "BULWARK_REDIS_URL"

// State backends of limits.backend.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// Defaults of the redis: section.
const (
	DefaultRedisPrefix      = "bulwark:"
	DefaultRedisDialTimeout = 2 * time.Second
	DefaultRedisReadTimeout = time.Second
)

// Redis is the redis: section: where limits, breakers and idempotency keys
// live when limits.backend is redis, so that replicas share them.
type Redis struct {
	// URLEnv names the environment variable holding the URL
	// (redis://, rediss:// or unix://; default BULWARK_REDIS_URL).
	URLEnv string `yaml:"url_env"`
	// Prefix starts every key Bulwark writes (default "bulwark:"); replicas
	// sharing limits use the same prefix, deployments sharing a Redis
	// different ones.
	Prefix string `yaml:"prefix"`
	// DialTimeout and ReadTimeout bound a connection attempt and a command
	// (defaults 2s and 1s; writes use ReadTimeout). A Redis that does not
	// answer in time denies the request: keep them short.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// URLVariable returns the name of the variable holding the URL.
func (r Redis) URLVariable() string {
	if r.URLEnv == "" {
		return EnvRedisURL
	}
	return r.URLEnv
}

// KeyPrefix returns the configured prefix or the default.
func (r Redis) KeyPrefix() string {
	if r.Prefix == "" {
		return DefaultRedisPrefix
	}
	return r.Prefix
}

// validate checks the section; used reports whether limits.backend is
// redis (the section means nothing otherwise).
func (r Redis) validate(used bool) []error {
	var errs []error
	if !used && r != (Redis{}) {
		errs = append(errs, errors.New("redis: applies to limits.backend redis only"))
	}
	if r.URLEnv != "" && !envNameRe.MatchString(r.URLEnv) {
		errs = append(errs, fmt.Errorf("redis.url_env: %q is not an environment variable name", r.URLEnv))
	}
	switch r.URLEnv {
	case EnvMasterKey, EnvMasterKeyFile, EnvConfig:
		errs = append(errs, fmt.Errorf("redis.url_env: %q is another Bulwark setting", r.URLEnv))
	}
	if len(r.Prefix) > 64 || strings.ContainsFunc(r.Prefix, func(c rune) bool { return c <= ' ' || c > '~' }) {
		errs = append(errs, errors.New("redis.prefix: at most 64 visible ASCII characters"))
	}
	for name, d := range map[string]time.Duration{"dial_timeout": r.DialTimeout, "read_timeout": r.ReadTimeout} {
		if d < 0 || d > time.Minute {
			errs = append(errs, fmt.Errorf("redis.%s: %s is not between 0 and 1m", name, d))
		}
	}
	return errs
}

// Sentinel errors of ClientOptions. Their messages never contain the URL.
var (
	ErrNoRedisURL       = errors.New("no Redis URL")
	ErrInvalidRedisURL  = errors.New("not a valid Redis URL")
	ErrInsecureRedisURL = errors.New("Redis connection without TLS beyond loopback")
)

// ClientOptions reads the URL from the variable URLVariable names and
// returns go-redis options with the configured timeouts. In production a
// plain redis:// URL to a host that is not loopback is refused (rediss://
// or a unix socket are fine): limits and idempotency state would cross the
// network in clear, with the password. Errors name the variable, never its
// value.
func (r Redis) ClientOptions(getenv func(string) string, production bool) (*goredis.Options, error) {
	name := r.URLVariable()
	raw := getenv(name)
	if raw == "" {
		return nil, fmt.Errorf("redis: limits.backend redis needs %s: %w", name, ErrNoRedisURL)
	}
	// The parse error is not wrapped: its text may quote the URL, password
	// and all.
	opts, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", name, ErrInvalidRedisURL)
	}
	if production && opts.Network == "tcp" && opts.TLSConfig == nil && !IsLoopback(opts.Addr) {
		return nil, fmt.Errorf("redis: %s connects to %s with redis:// (no TLS); production mode needs rediss:// beyond loopback: %w",
			name, hostOf(raw), ErrInsecureRedisURL)
	}
	opts.DialTimeout = orDefault(r.DialTimeout, DefaultRedisDialTimeout)
	opts.ReadTimeout = orDefault(r.ReadTimeout, DefaultRedisReadTimeout)
	opts.WriteTimeout = opts.ReadTimeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1 // a retry or two hides a blip; more only delays the refusal
	return opts, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// hostOf returns the URL's host without user information, for errors.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured host"
	}
	return u.Hostname()
}
