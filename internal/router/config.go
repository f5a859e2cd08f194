// Package router turns a model alias into an ordered list of upstream
// deployments and runs a request across them: routing strategies (ordered
// fallback, weighted random, least in-flight, lowest latency), per-deployment
// circuit breakers and 429 cooldowns, error classification, and retries with
// full-jitter backoff bounded by the request deadline, never after the first
// byte reached the client.
package router

import (
	"errors"
	"fmt"
	"time"
)

// Strategy orders an alias's deployments for one request.
type Strategy string

// Routing strategies.
const (
	// Fallback tries deployments in the configured order.
	Fallback Strategy = "fallback"
	// Weighted picks by weight at random, then the rest by weight.
	Weighted Strategy = "weighted"
	// LeastInFlight prefers the deployment with fewest requests running.
	LeastInFlight Strategy = "least-inflight"
	// LowestLatency prefers the lowest EWMA of time to first token; a
	// deployment not yet measured goes first so it gets measured.
	LowestLatency Strategy = "lowest-latency"
)

// Timeouts bound one attempt on a deployment. Zero means no bound of that
// kind (the request deadline still applies).
type Timeouts struct {
	// Connect bounds the TCP connect of a new upstream connection; the
	// gateway passes it to the shared transport per attempt
	// (provider.WithConnectTimeout), so pooled connections are unaffected.
	Connect time.Duration `json:"connect,omitempty" yaml:"connect"`
	// FirstByte bounds the time from the start of the attempt to its first
	// token (the adapter signals tokens with Progress).
	FirstByte time.Duration `json:"first_byte,omitempty" yaml:"first_byte"`
	// Total bounds the whole attempt, streaming included.
	Total time.Duration `json:"total,omitempty" yaml:"total"`
	// IdleGap bounds the silence between two stream chunks.
	IdleGap time.Duration `json:"idle_gap,omitempty" yaml:"idle_gap"`
}

// Deployment is one upstream model endpoint an alias can route to.
type Deployment struct {
	Name     string `json:"name" yaml:"name"`
	Provider string `json:"provider" yaml:"provider"`
	Model    string `json:"model" yaml:"model"`
	// Weight for the weighted strategy; zero counts as 1.
	Weight int `json:"weight,omitempty" yaml:"weight"`
	// RPM, TPM and MaxParallel keep Bulwark under the provider's quota; the
	// gateway applies them with package limit under "deploy:<name>" keys.
	RPM         int64    `json:"rpm,omitempty" yaml:"rpm"`
	TPM         int64    `json:"tpm,omitempty" yaml:"tpm"`
	MaxParallel int64    `json:"max_parallel,omitempty" yaml:"max_parallel"`
	Timeouts    Timeouts `json:"timeouts" yaml:"timeouts"`
	// ContextWindow is the model's context size in tokens (0: unknown).
	ContextWindow int `json:"context_window,omitempty" yaml:"context_window"`
	// MaxOutputTokens is the model's output cap, which budgets reserve when
	// a request sets no max_tokens (0: the gateway's table or default).
	MaxOutputTokens int64 `json:"max_output_tokens,omitempty" yaml:"max_output_tokens"`
}

// Alias maps a client-facing model name to deployments.
type Alias struct {
	Name        string   `json:"name" yaml:"-"`
	Strategy    Strategy `json:"strategy" yaml:"strategy"`
	Deployments []string `json:"deployments" yaml:"deployments"`
	// ContextFallback is the alias to try when a deployment reports the
	// prompt does not fit its context window; empty means none.
	ContextFallback string `json:"context_fallback,omitempty" yaml:"context_fallback"`
}

// Config is the routing table.
type Config struct {
	Deployments []Deployment
	Aliases     []Alias
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("router: invalid config")

// maxAliasDeployments bounds an alias so ordering stays allocation-free.
const maxAliasDeployments = 32

// Validate checks the table: unique names, known references, known
// strategies, no negative weights or timeouts, and context fallbacks that
// resolve without cycles.
func (c Config) Validate() error {
	deps := make(map[string]bool, len(c.Deployments))
	for _, d := range c.Deployments {
		if err := d.validate(); err != nil {
			return err
		}
		if deps[d.Name] {
			return fmt.Errorf("%w: duplicate deployment %q", ErrConfig, d.Name)
		}
		deps[d.Name] = true
	}
	aliases := make(map[string]Alias, len(c.Aliases))
	for _, a := range c.Aliases {
		if err := a.validate(deps); err != nil {
			return err
		}
		if _, dup := aliases[a.Name]; dup {
			return fmt.Errorf("%w: duplicate alias %q", ErrConfig, a.Name)
		}
		aliases[a.Name] = a
	}
	for _, a := range c.Aliases {
		seen := map[string]bool{a.Name: true}
		for next := a.ContextFallback; next != ""; next = aliases[next].ContextFallback {
			if _, ok := aliases[next]; !ok {
				return fmt.Errorf("%w: alias %q: unknown context fallback %q", ErrConfig, a.Name, next)
			}
			if seen[next] {
				return fmt.Errorf("%w: alias %q: context fallback cycle", ErrConfig, a.Name)
			}
			seen[next] = true
		}
	}
	return nil
}

func (d Deployment) validate() error {
	switch {
	case d.Name == "" || d.Provider == "" || d.Model == "":
		return fmt.Errorf("%w: deployment %q needs name, provider and model", ErrConfig, d.Name)
	case d.Weight < 0 || d.RPM < 0 || d.TPM < 0 || d.MaxParallel < 0 || d.ContextWindow < 0 || d.MaxOutputTokens < 0:
		return fmt.Errorf("%w: deployment %q: negative weight or limit", ErrConfig, d.Name)
	case d.Timeouts.Connect < 0 || d.Timeouts.FirstByte < 0 || d.Timeouts.Total < 0 || d.Timeouts.IdleGap < 0:
		return fmt.Errorf("%w: deployment %q: negative timeout", ErrConfig, d.Name)
	}
	return nil
}

func (a Alias) validate(deps map[string]bool) error {
	switch a.Strategy {
	case Fallback, Weighted, LeastInFlight, LowestLatency:
	default:
		return fmt.Errorf("%w: alias %q: unknown strategy %q", ErrConfig, a.Name, a.Strategy)
	}
	if a.Name == "" || len(a.Deployments) == 0 || len(a.Deployments) > maxAliasDeployments {
		return fmt.Errorf("%w: alias %q needs a name and 1..%d deployments", ErrConfig, a.Name, maxAliasDeployments)
	}
	seen := make(map[string]bool, len(a.Deployments))
	for _, name := range a.Deployments {
		if !deps[name] || seen[name] {
			return fmt.Errorf("%w: alias %q: unknown or repeated deployment %q", ErrConfig, a.Name, name)
		}
		seen[name] = true
	}
	return nil
}
