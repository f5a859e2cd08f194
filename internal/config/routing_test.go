package config

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/router"
)

var routingCases = []struct {
	name, yaml string
	wantErr    string // substring; "" means valid
}{
	{"models alias alone", "models: {fast: openai/gpt-4o-mini}\n", ""},
	{"full section", `models: {fast: openai/gpt-4o-mini}
routing:
  request_timeout: 30s
  retry: {max_attempts: 2}
  breaker: {consecutive_failures: 3, cooldown: 5s}
  deployments:
    east: {provider: openai, model: gpt-4o, weight: 2, rpm: 10, tpm: 1000, max_parallel: 3,
           max_output_tokens: 4096, timeouts: {connect: 1s, first_byte: 2s, total: 3s, idle_gap: 4s}}
    long: {provider: anthropic, model: claude-sonnet-4-5, context_window: 1000000}
  aliases:
    smart: {strategy: least-inflight, deployments: [east], context_fallback: big}
    big: {deployments: [long]}
limits:
  tenants: {acme: {rpm: 5, budget_usd: 12.5, budget_period: monthly}}
  tenant_default: {max_parallel: 2}
idempotency: {window: 1h, lease: 5m}
`, ""},
	{"unknown field", "routing: {deployments: {a: {provider: p, model: m, burst: 1}}}\n", "field burst not found"},
	{"unknown strategy", "routing: {deployments: {a: {provider: p, model: m}}, aliases: {x: {strategy: random, deployments: [a]}}}\n", "unknown strategy"},
	{"unknown deployment", "routing: {aliases: {x: {deployments: [nope]}}}\n", "unknown or repeated deployment"},
	{"fallback cycle", "routing: {deployments: {a: {provider: p, model: m}}, aliases: {x: {deployments: [a], context_fallback: y}, y: {deployments: [a], context_fallback: x}}}\n", "cycle"},
	{"negative limit", "routing: {deployments: {a: {provider: p, model: m, rpm: -1}}}\n", "negative"},
	{"bad provider name", "routing: {deployments: {a: {provider: 'P Q', model: m}}}\n", "provider"},
	{"alias clashes with models", "models: {fast: openai/x}\nrouting: {deployments: {a: {provider: p, model: m}}, aliases: {fast: {deployments: [a]}}}\n", "also declared under models"},
	{"zero attempts", "routing: {retry: {max_attempts: 0}}\n", "max_attempts"},
	{"bad breaker", "routing: {breaker: {cooldown: 0s}}\n", "breaker"},
	{"budget with seven decimals", "limits: {tenants: {a: {budget_usd: 0.0000001}}}\n", "six decimals"},
	{"weekly period", "limits: {tenants: {a: {budget_usd: 1, budget_period: weekly}}}\n", "period"},
	{"redis backend", "limits: {backend: redis}\nredis: {url_env: MY_REDIS, prefix: 'acme:', dial_timeout: 1s, read_timeout: 250ms}\n", ""},
	{"unknown backend", "limits: {backend: memcached}\n", "backend"},
	{"redis section without the redis backend", "redis: {prefix: 'x:'}\n", "limits.backend redis only"},
	{"redis url_env not a variable", "limits: {backend: redis}\nredis: {url_env: 'a b'}\n", "url_env"},
	{"redis url_env is the master key", "limits: {backend: redis}\nredis: {url_env: BULWARK_MASTER_KEY}\n", "another Bulwark setting"},
	{"redis prefix with a space", "limits: {backend: redis}\nredis: {prefix: 'a b'}\n", "prefix"},
	{"redis negative timeout", "limits: {backend: redis}\nredis: {read_timeout: -1s}\n", "read_timeout"},
	{"redis url in the file", "limits: {backend: redis}\nredis: {url: 'redis://:pw@h'}\n", "field url not found"},
	{"negative idempotency window", "idempotency: {window: -1s}\n", "idempotency"},
	{"idempotency shares per key", "idempotency: {max_entries: 1000, max_bytes: 8388608, max_entries_per_key: 100, max_bytes_per_key: 1048576}\n", ""},
	{"negative idempotency share", "idempotency: {max_bytes_per_key: -1}\n", "max_bytes_per_key"},
}

func TestRoutingSection(t *testing.T) {
	for _, tt := range routingCases {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := Decode([]byte(tt.yaml), c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("valid config refused: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRouterConfigAndTenantLimits(t *testing.T) {
	c := Default()
	if err := Decode([]byte(routingCases[1].yaml), c); err != nil {
		t.Fatal(err)
	}
	rc := c.RouterConfig()
	if err := rc.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := router.New(rc, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := r.Deployment("fast"); !ok || d.Provider != "openai" || d.Model != "gpt-4o-mini" {
		t.Fatalf("models alias did not become a deployment: %+v", d)
	}
	if a, ok := r.Alias("fast"); !ok || a.Strategy != router.Fallback || len(a.Deployments) != 1 {
		t.Fatalf("models alias did not become a single-deployment alias: %+v", a)
	}
	if d, _ := r.Deployment("east"); d.Timeouts.IdleGap != 4*time.Second || d.MaxOutputTokens != 4096 || d.RPM != 10 {
		t.Fatalf("deployment east: %+v", d)
	}
	if c.Routing.Retry.MaxAttempts != 2 || c.Routing.Retry.BaseDelay != router.DefaultPolicy.BaseDelay {
		t.Fatalf("partial retry section must keep defaults: %+v", c.Routing.Retry)
	}
	acme := c.Limits.TenantSpec("acme").Subject("tenant:acme")
	if acme.RPM != 5 || !acme.Budgeted || acme.BudgetMicros != 12_500_000 || acme.BudgetPeriod != limit.PeriodMonthly {
		t.Fatalf("tenant acme: %+v", acme)
	}
	if other := c.Limits.TenantSpec("other").Subject("tenant:other"); other.MaxParallel != 2 || other.Budgeted {
		t.Fatalf("tenant default: %+v", other)
	}
}

func FuzzRoutingSection(f *testing.F) {
	for _, tt := range routingCases {
		f.Add([]byte(tt.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if Decode(data, c) != nil || c.Validate() != nil {
			return
		}
		// Whatever validates must build a router.
		if _, err := router.New(c.RouterConfig(), router.Options{}); err != nil {
			t.Fatalf("validated config does not build a router: %v", err)
		}
	})
}

func TestIdempotencyStoreOptions(t *testing.T) {
	c := Default()
	if err := Decode([]byte("idempotency: {max_entries: 1000, max_bytes: 8000, max_entries_per_key: 10}\n"), c); err != nil {
		t.Fatal(err)
	}
	o := c.Idempotency.StoreOptions().WithDefaults()
	if o.MaxEntries != 1000 || o.MaxEntriesPerScope != 10 || o.MaxBytes != 8000 || o.MaxBytesPerScope != 1000 {
		t.Fatalf("store options %+v: want the per-key entries as set and an eighth of max_bytes per key", o)
	}
}
