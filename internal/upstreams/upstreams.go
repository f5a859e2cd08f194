// Package upstreams resolves a tenant's providers for the gateway: those
// declared in the config file and those managed through the CLI or admin
// API (stored, with credentials in the barrier). Stored credentials are
// decrypted per call and never cached in clear; an environment variable's
// value (already in the process's memory) is read when the provider list
// is rebuilt.
package upstreams

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Source implements gateway.ProviderSource. Stored providers are cached
// per tenant; once the cache period has passed, a request reads the
// store's providers generation (one small value) and lists the table
// again only when it moved, so a change made by the CLI or another
// replica is seen within the period.
type Source struct {
	in  *instance.Instance
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	at        time.Time
	gen       int64 // the providers generation the list was read at or after
	providers []provider.Config
}

// New returns a source over an opened instance.
func New(in *instance.Instance) *Source {
	return &Source{in: in, ttl: time.Second, cache: map[string]cached{}}
}

// Provider returns one provider of tenant.
func (s *Source) Provider(ctx context.Context, tenant, name string) (provider.Config, bool, error) {
	ps, err := s.Providers(ctx, tenant)
	if err != nil {
		return provider.Config{}, false, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, true, nil
		}
	}
	return provider.Config{}, false, nil
}

// Providers lists tenant's providers: config-file ones first, then stored
// ones whose names the file does not declare.
func (s *Source) Providers(ctx context.Context, tenant string) ([]provider.Config, error) {
	s.mu.Lock()
	c, ok := s.cache[tenant]
	s.mu.Unlock()
	if ok && time.Since(c.at) < s.ttl {
		return c.providers, nil
	}
	// The generation is read before the list: a change landing between
	// the two leaves a newer list under an older generation, which only
	// costs the next check a re-read.
	gen, err := s.in.Store.ProvidersGeneration(ctx)
	if err != nil {
		return nil, err
	}
	if ok && c.gen == gen {
		s.remember(tenant, cached{at: time.Now(), gen: gen, providers: c.providers})
		return c.providers, nil
	}
	stored, err := s.in.Store.ListProviders(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []provider.Config
	seen := map[string]bool{}
	for _, p := range s.in.Cfg.Providers {
		if (p.Tenant == "" && tenant == store.DefaultTenant) || p.Tenant == tenant {
			out = append(out, fromConfig(p))
			seen[p.Name] = true
		}
	}
	for _, p := range stored {
		if !seen[p.Name] {
			out = append(out, FromStore(s.in, p))
		}
	}
	s.remember(tenant, cached{at: time.Now(), gen: gen, providers: out})
	return out, nil
}

func (s *Source) remember(tenant string, c cached) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[tenant] = c
}

func fromConfig(p config.Provider) provider.Config {
	c := provider.Config{Name: p.Name, Type: provider.Type(p.Type), BaseURL: p.BaseURL, Models: p.Models}
	if p.APIKeyEnv != "" {
		// Read when the provider list is (re)built, at most once per cache
		// period, not on every call: the value is the process environment's
		// own string (no further copy in clear), and os.Getenv's locked
		// lookup was a measurable part of a request.
		env, v := p.APIKeyEnv, os.Getenv(p.APIKeyEnv)
		c.Credential = func(context.Context) (string, error) {
			if v == "" {
				return "", errors.New("environment variable " + env + " is empty")
			}
			return v, nil
		}
	}
	return c
}

// FromStore builds the gateway's view of a stored provider; the
// credential is decrypted only when a call needs it.
func FromStore(in *instance.Instance, p store.Provider) provider.Config {
	c := provider.Config{Name: p.Name, Type: provider.Type(p.Type), BaseURL: p.BaseURL, Models: p.Models}
	if p.Credential != "" || p.CredentialEnv != "" {
		rec := p
		c.Credential = func(context.Context) (string, error) { return in.ProviderCredential(&rec) }
	}
	return c
}
