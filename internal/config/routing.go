package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// Routing is the routing: section: deployments (provider + upstream model
// + weight + per-deployment limits and timeouts), aliases over them with a
// strategy, the retry policy and the circuit-breaker settings. Aliases of
// the models: section keep working: each becomes a single-deployment alias.
type Routing struct {
	// RequestTimeout is the deadline of a whole routed request, streaming
	// included: no retry starts that could not finish before it.
	RequestTimeout time.Duration           `yaml:"request_timeout"`
	Retry          router.Policy           `yaml:"retry"`
	Breaker        router.BreakerConfig    `yaml:"breaker"`
	Deployments    map[string]Deployment   `yaml:"deployments"`
	Aliases        map[string]RoutingAlias `yaml:"aliases"`
}

// Deployment is one upstream model endpoint in the file.
type Deployment struct {
	Provider    string          `yaml:"provider"`
	Model       string          `yaml:"model"`
	Weight      int             `yaml:"weight"`
	RPM         int64           `yaml:"rpm"`
	TPM         int64           `yaml:"tpm"`
	MaxParallel int64           `yaml:"max_parallel"`
	Timeouts    router.Timeouts `yaml:"timeouts"`
	// ContextWindow is the model's context size in tokens (0: unknown).
	ContextWindow int `yaml:"context_window"`
	// MaxOutputTokens is the model's output cap, reserved in budgets when
	// a request sets no max_tokens (0: the gateway's table or default).
	MaxOutputTokens int64 `yaml:"max_output_tokens"`
}

// RoutingAlias is a client-facing model name over deployments.
type RoutingAlias struct {
	Strategy        router.Strategy `yaml:"strategy"`
	Deployments     []string        `yaml:"deployments"`
	ContextFallback string          `yaml:"context_fallback"`
}

// Limits is the limits: section: the state backend and its bound, and the
// limits and budgets of tenants. Per-key limits live in the key records
// (bulwark keys create --rpm ...).
type Limits struct {
	// Backend is "memory" (default: this process only) or "redis": limits,
	// budgets, circuit breakers and idempotency keys then live in the Redis
	// of the redis: section, shared by every replica.
	Backend string `yaml:"backend"`
	// MaxKeys bounds the live entries of the memory backend; beyond it new
	// keys are refused (fail closed).
	MaxKeys int `yaml:"max_keys"`
	// Tenants sets limits per tenant name; TenantDefault applies to tenants
	// not listed (nil: none).
	Tenants       map[string]limit.Spec `yaml:"tenants"`
	TenantDefault *limit.Spec           `yaml:"tenant_default"`
}

// Idempotency is the idempotency: section.
type Idempotency struct {
	// Window is how long a completed response is replayed (default 24h).
	Window time.Duration `yaml:"window"`
	// Lease bounds how long a request may own a key (default 10m; keep it
	// above the longest request).
	Lease time.Duration `yaml:"lease"`
	// MaxEntries and MaxBytes bound the store (memory or Redis): live keys
	// and stored response bytes (defaults 10000 and 64 MiB).
	MaxEntries int   `yaml:"max_entries"`
	MaxBytes   int64 `yaml:"max_bytes"`
	// MaxEntriesPerKey and MaxBytesPerKey are one calling key's share of
	// them (defaults: an eighth of max_entries and max_bytes; capped by
	// them), so that one key cannot fill the store for the others.
	MaxEntriesPerKey int   `yaml:"max_entries_per_key"`
	MaxBytesPerKey   int64 `yaml:"max_bytes_per_key"`
}

// StoreOptions returns the idempotency store's options from the section.
func (i Idempotency) StoreOptions() idempotency.Options {
	return idempotency.Options{Window: i.Window, Lease: i.Lease, MaxEntries: i.MaxEntries, MaxBytes: i.MaxBytes,
		MaxEntriesPerScope: i.MaxEntriesPerKey, MaxBytesPerScope: i.MaxBytesPerKey}
}

// defaultRouting is the routing section's defaults (decoded over).
func defaultRouting() Routing {
	return Routing{RequestTimeout: 10 * time.Minute, Retry: router.DefaultPolicy, Breaker: router.DefaultBreakerConfig}
}

// TenantSpec returns the limits of tenant: its own entry, else the
// default, else none.
func (l Limits) TenantSpec(tenant string) limit.Spec {
	if s, ok := l.Tenants[tenant]; ok {
		return s
	}
	if l.TenantDefault != nil {
		return *l.TenantDefault
	}
	return limit.Spec{}
}

// RouterConfig builds the routing table: the routing section's deployments
// and aliases, plus one single-deployment alias (fallback strategy) per
// entry of the models section, whose deployment has the alias's name.
func (c *Config) RouterConfig() router.Config {
	var rc router.Config
	for _, name := range sortedKeys(c.Routing.Deployments) {
		d := c.Routing.Deployments[name]
		rc.Deployments = append(rc.Deployments, router.Deployment{Name: name, Provider: d.Provider, Model: d.Model,
			Weight: d.Weight, RPM: d.RPM, TPM: d.TPM, MaxParallel: d.MaxParallel, Timeouts: d.Timeouts,
			ContextWindow: d.ContextWindow, MaxOutputTokens: d.MaxOutputTokens})
	}
	for _, name := range sortedKeys(c.Routing.Aliases) {
		a := c.Routing.Aliases[name]
		strategy := a.Strategy
		if strategy == "" {
			strategy = router.Fallback
		}
		rc.Aliases = append(rc.Aliases, router.Alias{Name: name, Strategy: strategy, Deployments: a.Deployments, ContextFallback: a.ContextFallback})
	}
	for _, alias := range sortedKeys(c.Models) {
		p, m, _ := strings.Cut(c.Models[alias], "/")
		rc.Deployments = append(rc.Deployments, router.Deployment{Name: alias, Provider: p, Model: m})
		rc.Aliases = append(rc.Aliases, router.Alias{Name: alias, Strategy: router.Fallback, Deployments: []string{alias}})
	}
	return rc
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// validateRouting checks the routing, limits and idempotency sections.
func (c *Config) validateRouting() []error {
	var errs []error
	r := c.Routing
	if r.RequestTimeout < 0 {
		errs = append(errs, errors.New("routing.request_timeout: must not be negative"))
	}
	if r.Retry.MaxAttempts < 1 || r.Retry.BaseDelay < 0 || r.Retry.MaxDelay < r.Retry.BaseDelay {
		errs = append(errs, errors.New("routing.retry: max_attempts must be ≥ 1 and 0 ≤ base_delay ≤ max_delay"))
	}
	if err := r.Breaker.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("routing.breaker: %w", err))
	}
	for name, d := range r.Deployments {
		where := "routing.deployments." + name
		if !providerName.MatchString(d.Provider) {
			errs = append(errs, fmt.Errorf("%s.provider: %q must match %s", where, d.Provider, providerName))
		}
		if d.Model == "" || strings.ContainsAny(d.Model, "\"\\\x00\n\r\t") || len(d.Model) > 256 {
			errs = append(errs, fmt.Errorf("%s.model: %q is not a model name", where, d.Model))
		}
		if d.MaxOutputTokens < 0 {
			errs = append(errs, fmt.Errorf("%s.max_output_tokens: must not be negative", where))
		}
		if _, clash := c.Models[name]; clash {
			errs = append(errs, fmt.Errorf("%s: the name is also a models: alias (which becomes a deployment of that name)", where))
		}
		for _, n := range []int64{d.RPM, d.TPM} {
			if n > 0 {
				if err := limit.PerMinute(n).Validate(); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
		}
	}
	for name := range r.Aliases {
		if _, clash := c.Models[name]; clash {
			errs = append(errs, fmt.Errorf("routing.aliases.%s: also declared under models", name))
		}
	}
	if err := c.RouterConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("routing: %w", err))
	}
	return append(errs, c.validateLimits()...)
}

func (c *Config) validateLimits() []error {
	var errs []error
	switch c.Limits.Backend {
	case "", BackendMemory, BackendRedis:
	default:
		errs = append(errs, fmt.Errorf("limits.backend: %q is not %q or %q", c.Limits.Backend, BackendMemory, BackendRedis))
	}
	errs = append(errs, c.Redis.validate(c.Limits.Backend == BackendRedis)...)
	if c.Limits.MaxKeys < 0 {
		errs = append(errs, errors.New("limits.max_keys: must not be negative"))
	}
	for name, s := range c.Limits.Tenants {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("limits.tenants.%s: %w", name, err))
		}
	}
	if s := c.Limits.TenantDefault; s != nil {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("limits.tenant_default: %w", err))
		}
	}
	i := c.Idempotency
	if i.Window < 0 || i.Lease < 0 || i.MaxEntries < 0 || i.MaxBytes < 0 || i.MaxEntriesPerKey < 0 || i.MaxBytesPerKey < 0 {
		errs = append(errs, errors.New("idempotency: window, lease, max_entries, max_bytes, max_entries_per_key and max_bytes_per_key must not be negative"))
	}
	return errs
}
