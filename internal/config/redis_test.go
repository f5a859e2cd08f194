package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// redisURLCases are shared by the table test and the fuzzer's seeds. The
// password "s3cr3t-pw" must never appear in an error.
var redisURLCases = []struct {
	name       string
	url        string
	production bool
	want       error // nil: accepted
	addr       string
}{
	{"unset", "", false, ErrNoRedisURL, ""},
	{"garbage", "http://:s3cr3t-pw@h:6379", false, ErrInvalidRedisURL, ""},
	{"bad port", "redis://:s3cr3t-pw@h:port/0", false, ErrInvalidRedisURL, ""},
	{"plain loopback in production", "redis://:s3cr3t-pw@127.0.0.1:6379/2", true, nil, "127.0.0.1:6379"},
	{"plain localhost in production", "redis://localhost:6380", true, nil, "localhost:6380"},
	{"plain IPv6 loopback in production", "redis://[::1]:6379", true, nil, "[::1]:6379"},
	{"plain remote in development", "redis://:s3cr3t-pw@10.0.0.5:6379", false, nil, "10.0.0.5:6379"},
	{"plain remote in production", "redis://:s3cr3t-pw@10.0.0.5:6379", true, ErrInsecureRedisURL, ""},
	{"plain remote name in production", "redis://user:s3cr3t-pw@cache.internal:6379", true, ErrInsecureRedisURL, ""},
	{"tls remote in production", "rediss://:s3cr3t-pw@cache.internal:6380", true, nil, "cache.internal:6380"},
	{"unix socket in production", "unix://:s3cr3t-pw@/run/redis.sock", true, nil, "/run/redis.sock"},
}

func TestRedisClientOptions(t *testing.T) {
	for _, tt := range redisURLCases {
		t.Run(tt.name, func(t *testing.T) {
			r := Redis{URLEnv: "TEST_REDIS_URL", ReadTimeout: 300 * time.Millisecond}
			getenv := func(k string) string {
				if k == "TEST_REDIS_URL" {
					return tt.url
				}
				return ""
			}
			opts, err := r.ClientOptions(getenv, tt.production)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cr3t-pw") || (tt.url != "" && strings.Contains(err.Error(), tt.url)) {
					t.Fatalf("error %q discloses the URL or password", err)
				}
				if !strings.Contains(err.Error(), "TEST_REDIS_URL") {
					t.Fatalf("error %q does not name the variable", err)
				}
				return
			}
			if opts.Addr != tt.addr || opts.ReadTimeout != 300*time.Millisecond || opts.WriteTimeout != 300*time.Millisecond ||
				opts.DialTimeout != DefaultRedisDialTimeout {
				t.Fatalf("options addr %q, timeouts %s/%s/%s", opts.Addr, opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout)
			}
		})
	}
}

func TestRedisDefaults(t *testing.T) {
	var r Redis
	if r.URLVariable() != EnvRedisURL || r.KeyPrefix() != DefaultRedisPrefix {
		t.Fatalf("defaults: %q, %q", r.URLVariable(), r.KeyPrefix())
	}
	_, err := r.ClientOptions(func(string) string { return "" }, false)
	if !errors.Is(err, ErrNoRedisURL) || !strings.Contains(err.Error(), "BULWARK_REDIS_URL") {
		t.Fatalf("missing URL: %v; want an error naming BULWARK_REDIS_URL", err)
	}
}

func FuzzRedisClientOptions(f *testing.F) {
	for _, tt := range redisURLCases {
		f.Add(tt.url, tt.production)
	}
	f.Fuzz(func(t *testing.T, raw string, production bool) {
		const secret = "Zq9-secret-Zq9"
		for _, u := range []string{raw, strings.Replace(raw, "@", ":"+secret+"@", 1)} {
			opts, err := Redis{}.ClientOptions(func(string) string { return u }, production)
			if err != nil {
				if strings.Contains(err.Error(), secret) || (len(u) > 8 && strings.Contains(err.Error(), u)) {
					t.Fatalf("error %q discloses the URL", err)
				}
				continue
			}
			if production && opts.Network == "tcp" && opts.TLSConfig == nil && !IsLoopback(opts.Addr) {
				t.Fatalf("production accepted clear text to %q", opts.Addr)
			}
		}
	})
}

// The config file may not name, as a provider's api_key_env, a variable it
// reads one of Bulwark's own secrets from.
func TestProviderCredentialNotOwnSecretVariable(t *testing.T) {
	c := Default()
	c.Limits.Backend = "redis"
	c.Redis.URLEnv = "APP_REDIS_URL"
	c.Providers = []Provider{{Name: "p", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKeyEnv: "APP_REDIS_URL"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "APP_REDIS_URL") {
		t.Fatalf("Validate: %v", err)
	}
	c.Providers[0].APIKeyEnv = "OPENAI_API_KEY"
	if err := c.Validate(); err != nil {
		t.Fatalf("an ordinary variable: %v", err)
	}
}
