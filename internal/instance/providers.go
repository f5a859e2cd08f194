package instance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// providerAAD binds a provider credential to its row and to where it may
// be sent: the provider's type and base URL are part of the associated
// data, so someone who can write the database but has no master key
// cannot repoint a provider at a host of theirs and have the gateway
// decrypt its credential for it — the ciphertext no longer opens.
func providerAAD(p *store.Provider) barrier.AAD {
	return barrier.AAD{Table: "providers", ID: p.Tenant + "/" + p.Name, Field: "credential\x00" + p.Type + "\x00" + p.BaseURL}
}

// legacyProviderAAD is the associated data credentials were sealed under
// before their type and base URL were bound (see rebindProviders).
func legacyProviderAAD(p *store.Provider) barrier.AAD {
	return barrier.AAD{Table: "providers", ID: p.Tenant + "/" + p.Name, Field: "credential"}
}

// PutProvider stores a provider. A credential given as apiKey is
// encrypted through the barrier; it is wiped from the slice afterwards.
func (in *Instance) PutProvider(ctx context.Context, actor string, p store.Provider, apiKey []byte) error {
	defer clear(apiKey)
	if err := in.CheckCredentialEnv(p.CredentialEnv); err != nil {
		return err
	}
	if p.Type != string(provider.TypeMock) {
		// Every write path (CLI, admin API) checks first; this is the
		// store's own guard against a password stored and listed in clear.
		if err := provider.CheckBaseURL(p.BaseURL); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	if p.Tenant == "" {
		p.Tenant = store.DefaultTenant
	}
	if in.configDeclares(p.Tenant, p.Name) {
		return fmt.Errorf("%w: provider %q is declared in the config file, whose definition wins; change it there", ErrShadowedProvider, p.Name)
	}
	if len(apiKey) > 0 {
		ct, err := in.Barrier.EncryptText(providerAAD(&p), apiKey)
		if err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
		p.Credential = ct
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	ev := audit.Event{Tenant: p.Tenant, Actor: actor, Action: "provider.put", Target: p.Name,
		Details: map[string]string{"type": p.Type, "base_url": p.BaseURL}}
	return in.Store.PutProvider(ctx, &p, in.Audit.Func(ev))
}

// CheckCredentialEnv refuses environment variable names a provider may not
// read its credential from: Bulwark's own, and those this configuration
// reads its secrets from (see config.Config.CheckCredentialEnv).
func (in *Instance) CheckCredentialEnv(name string) error { return in.Cfg.CheckCredentialEnv(name) }

// ErrNoCredential means a provider has no credential configured.
var ErrNoCredential = errors.New("provider has no credential")

// ProviderCredential returns a provider's credential: decrypted from the
// barrier, or read from the named environment variable. No plaintext
// fallback: a value that is not barrier ciphertext fails.
func (in *Instance) ProviderCredential(p *store.Provider) (string, error) {
	switch {
	case p.Credential != "":
		pt, err := in.Barrier.DecryptText(providerAAD(p), p.Credential)
		if err != nil {
			return "", fmt.Errorf("provider %s credential: %w", p.Name, err)
		}
		defer clear(pt)
		return string(pt), nil
	case p.CredentialEnv != "":
		if err := in.CheckCredentialEnv(p.CredentialEnv); err != nil {
			return "", fmt.Errorf("provider %s: %w", p.Name, err)
		}
		v := os.Getenv(p.CredentialEnv)
		if v == "" {
			return "", fmt.Errorf("provider %s: environment variable %s is empty: %w", p.Name, p.CredentialEnv, ErrNoCredential)
		}
		return v, nil
	}
	return "", ErrNoCredential
}

// Rewrap re-encrypts every record still under an older keyring term with
// the active term, so old terms can be retired. It returns how many
// records moved.
func (in *Instance) Rewrap(ctx context.Context) (int, error) {
	n := 0
	names, err := in.Store.ListSecretNames(ctx)
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		ct, err := in.Store.GetSecret(ctx, name)
		if err != nil {
			return n, err
		}
		moved, err := in.rewrapText(secretAAD(name), ct)
		if err != nil || moved == "" {
			if err != nil {
				return n, fmt.Errorf("rewrap secret %s: %w", name, err)
			}
			continue
		}
		if err := in.Store.ReplaceSecret(ctx, name, ct, moved); err != nil {
			return n, err
		}
		n++
	}
	ps, err := in.Store.ListProviders(ctx, "")
	if err != nil {
		return n, err
	}
	for _, p := range ps {
		if p.Credential == "" {
			continue
		}
		moved, err := in.rewrapText(providerAAD(&p), p.Credential)
		if err != nil {
			return n, fmt.Errorf("rewrap provider %s: %w", p.Name, err)
		}
		if moved == "" {
			continue
		}
		ev := audit.Event{Tenant: p.Tenant, Actor: "system", Action: "provider.rewrap", Target: p.Name}
		err = in.Store.ReplaceProviderCredential(ctx, p.Tenant, p.Name, p.Credential, moved, in.Audit.Func(ev))
		if errors.Is(err, store.ErrConflict) {
			continue // changed or removed meanwhile: the new value was written under the active term
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// rewrapText returns the text re-encrypted under the active term, or ""
// when it already is.
func (in *Instance) rewrapText(aad barrier.AAD, text string) (string, error) {
	ct, err := barrier.ParseText(text)
	if err != nil {
		return "", err
	}
	if !in.Barrier.NeedsRewrap(ct) {
		return "", nil
	}
	out, err := in.Barrier.Rewrap(aad, ct)
	if err != nil {
		return "", err
	}
	return barrier.FormatText(out), nil
}

// ErrShadowedProvider refuses to store a provider the config file declares
// for the same tenant: the config file's definition is the one the gateway
// uses, so a stored one would be reported saved and never used — an
// operator replacing a leaked key that way would be told it worked.
var ErrShadowedProvider = errors.New("provider shadowed by the config file")

// configDeclares reports whether the config file declares provider name
// for tenant (a provider without a tenant is the default tenant's).
func (in *Instance) configDeclares(tenant, name string) bool {
	for _, p := range in.Cfg.Providers {
		t := p.Tenant
		if t == "" {
			t = store.DefaultTenant
		}
		if t == tenant && p.Name == name {
			return true
		}
	}
	return false
}

// rebindProviders re-seals credentials stored under legacyProviderAAD
// under providerAAD, once, when the instance opens: after it, a ciphertext
// opens only with the type and base URL it was stored with. (A row whose
// base URL was changed before this ran is bound to that URL: the upgrade
// cannot know the earlier one.) It returns how many moved.
func (in *Instance) rebindProviders(ctx context.Context) (int, error) {
	ps, err := in.Store.ListProviders(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.Credential == "" {
			continue
		}
		if pt, err := in.Barrier.DecryptText(providerAAD(&p), p.Credential); err == nil {
			clear(pt)
			continue
		}
		pt, err := in.Barrier.DecryptText(legacyProviderAAD(&p), p.Credential)
		if err != nil {
			continue // neither: refused when used, as any broken ciphertext
		}
		ct, err := in.Barrier.EncryptText(providerAAD(&p), pt)
		clear(pt)
		if err != nil {
			return n, err
		}
		ev := audit.Event{Tenant: p.Tenant, Actor: "system", Action: "provider.rebind", Target: p.Name}
		err = in.Store.ReplaceProviderCredential(ctx, p.Tenant, p.Name, p.Credential, ct, in.Audit.Func(ev))
		if errors.Is(err, store.ErrConflict) {
			continue // changed meanwhile: the new value is sealed the new way
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
