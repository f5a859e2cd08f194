package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard"
)

// Guard is the `guard:` section: the guardrail policy every tenant starts
// from, and per-tenant overrides. A key's own policy (`keys create --guard`)
// is applied on top of its tenant's, setting by setting.
//
//	guard:
//	  default: {pii: log, secrets: redact, injection: log}
//	  tenants:
//	    acme: {pii: redact, secrets: block, injection: block, unscannable: block, reversible: true}
type Guard struct {
	// Default applies to every tenant; unset settings keep
	// guard.DefaultPolicy (pii=log, secrets=redact, injection=log).
	Default GuardPolicy `yaml:"default"`
	// Tenants override Default per tenant, setting by setting.
	Tenants map[string]GuardPolicy `yaml:"tenants"`
}

// GuardPolicy is one policy in the file. Empty (nil) settings inherit.
// The values are those of guard.ParsePolicy.
type GuardPolicy struct {
	PII                string   `yaml:"pii"`             // off|log|redact|block
	Secrets            string   `yaml:"secrets"`         // off|log|redact|block
	Injection          string   `yaml:"injection"`       // off|log|redact|block
	Unscannable        string   `yaml:"unscannable"`     // off|log|block: images, audio, files
	InjectionScope     string   `yaml:"injection_scope"` // untrusted|all
	Reversible         *bool    `yaml:"reversible"`      // restore placeholders in the response
	PIIThreshold       *float64 `yaml:"pii_threshold"`   // minimum confidence in (0, 1]
	SecretsThreshold   *float64 `yaml:"secrets_threshold"`
	InjectionThreshold *float64 `yaml:"injection_threshold"`
}

// Settings renders the settings that are set, in guard.ParsePolicy syntax
// ("pii=redact,secrets=block"); "" when none is.
func (p GuardPolicy) Settings() string {
	var items []string
	add := func(k, v string) {
		if v != "" {
			items = append(items, k+"="+v)
		}
	}
	num := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'g', -1, 64)
	}
	add("pii", p.PII)
	add("secrets", p.Secrets)
	add("injection", p.Injection)
	add("unscannable", p.Unscannable)
	add("injection_scope", p.InjectionScope)
	if p.Reversible != nil {
		add("reversible", strconv.FormatBool(*p.Reversible))
	}
	add("pii_threshold", num(p.PIIThreshold))
	add("secrets_threshold", num(p.SecretsThreshold))
	add("injection_threshold", num(p.InjectionThreshold))
	return strings.Join(items, ",")
}

// over returns p with every setting o sets replaced by o's.
func (p GuardPolicy) over(o GuardPolicy) GuardPolicy {
	pick := func(a, b string) string {
		if b != "" {
			return b
		}
		return a
	}
	p.PII, p.Secrets, p.Injection = pick(p.PII, o.PII), pick(p.Secrets, o.Secrets), pick(p.Injection, o.Injection)
	p.Unscannable, p.InjectionScope = pick(p.Unscannable, o.Unscannable), pick(p.InjectionScope, o.InjectionScope)
	if o.Reversible != nil {
		p.Reversible = o.Reversible
	}
	if o.PIIThreshold != nil {
		p.PIIThreshold = o.PIIThreshold
	}
	if o.SecretsThreshold != nil {
		p.SecretsThreshold = o.SecretsThreshold
	}
	if o.InjectionThreshold != nil {
		p.InjectionThreshold = o.InjectionThreshold
	}
	return p
}

// TenantPolicy returns the policy of tenant: guard.DefaultPolicy, then
// Default, then the tenant's own settings. Validate has checked every
// combination, so an error here means the config was not validated.
func (g Guard) TenantPolicy(tenant string) (guard.Policy, error) {
	p, err := guard.ParsePolicy(g.Default.over(g.Tenants[tenant]).Settings())
	if err != nil {
		return guard.Policy{}, fmt.Errorf("guard policy of tenant %q: %w", tenant, err)
	}
	return p, nil
}

// errAllOff refuses a default that turns every detector off: a new tenant
// must never start unprotected (use log to observe without acting).
var errAllOff = errors.New("pii, secrets and injection are all off; use log to observe without acting")

// validate checks the default and every tenant policy.
func (g Guard) validate() []error {
	var errs []error
	p, err := guard.ParsePolicy(g.Default.Settings())
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("guard.default: %w", err))
	case p.PII == guard.Off && p.Secrets == guard.Off && p.Injection == guard.Off:
		errs = append(errs, fmt.Errorf("guard.default: %w", errAllOff))
	}
	names := make([]string, 0, len(g.Tenants))
	for t := range g.Tenants {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		if t == "" {
			errs = append(errs, errors.New("guard.tenants: empty tenant name"))
			continue
		}
		if _, err := guard.ParsePolicy(g.Default.over(g.Tenants[t]).Settings()); err != nil {
			errs = append(errs, fmt.Errorf("guard.tenants.%s: %w", t, err))
		}
	}
	return errs
}
