package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/guard/gatewayhook"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/store"
)

type keyRequest struct {
	Name    string   `json:"name"`
	Tenant  string   `json:"tenant"`
	Scopes  []string `json:"scopes"`
	Models  []string `json:"models"`
	Tools   []string `json:"tools"`
	Expires string   `json:"expires"`
	NoLog   bool     `json:"no_log"`
	Guard   string   `json:"guard"` // guardrail settings over the tenant's ("pii=redact,secrets=block")
	limitFields
}

// limitFields are a key's limits in the API: the same names as the CLI
// flags and the stored Limits JSON. In a PATCH, a field sent replaces the
// stored one and "budget_usd": null removes the budget.
type limitFields struct {
	RPM         *int64 `json:"rpm"`
	TPM         *int64 `json:"tpm"`
	MaxParallel *int64 `json:"max_parallel"`
	// BudgetUSD is raw so that null (remove the budget) differs from absent.
	BudgetUSD    json.RawMessage `json:"budget_usd"`
	BudgetPeriod *string         `json:"budget_period"`
}

func (l limitFields) empty() bool {
	return l.RPM == nil && l.TPM == nil && l.MaxParallel == nil && l.BudgetUSD == nil && l.BudgetPeriod == nil
}

// apply returns base with the sent fields applied, validated.
func (l limitFields) apply(base limit.Spec) (limit.Spec, bool, error) {
	sp, changed := base, false
	for _, f := range []struct {
		v   *int64
		dst *int64
	}{{l.RPM, &sp.RPM}, {l.TPM, &sp.TPM}, {l.MaxParallel, &sp.MaxParallel}} {
		if f.v != nil {
			*f.dst, changed = *f.v, true
		}
	}
	switch {
	case string(l.BudgetUSD) == "null":
		sp.BudgetUSD, sp.BudgetPeriod, changed = nil, "", true
	case l.BudgetUSD != nil:
		var usd limit.USD
		if err := usd.UnmarshalJSON(l.BudgetUSD); err != nil {
			return sp, false, fmt.Errorf("budget_usd: %w: %w", err, auth.ErrInvalid)
		}
		sp.BudgetUSD, changed = &usd, true
	}
	if l.BudgetPeriod != nil {
		sp.BudgetPeriod, changed = limit.Period(*l.BudgetPeriod), true
	}
	if err := sp.Validate(); err != nil {
		return sp, false, fmt.Errorf("limits: %w: %w", err, auth.ErrInvalid)
	}
	return sp, changed, nil
}

type keyCreated struct {
	*store.Key
	Secret string `json:"key"`
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	var req keyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tenant, err := tenantFor(id, req.Tenant, false)
	if err != nil {
		return err
	}
	exp, err := parseDuration(req.Expires)
	if err != nil {
		return err
	}
	guardSettings, err := gatewayhook.Settings(req.Guard)
	if err != nil {
		return fmt.Errorf("guard: %w: %w", err, auth.ErrInvalid)
	}
	limits, _, err := req.apply(limit.Spec{})
	if err != nil {
		return err
	}
	full, rec, err := a.in.Keys.CreateAs(r.Context(), id, auth.KeySpec{Name: req.Name, Tenant: tenant,
		Scopes: req.Scopes, Models: req.Models, Tools: req.Tools, Expires: exp, NoLog: req.NoLog, Guard: guardSettings,
		Limits: limits.JSON()})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, keyCreated{Key: rec, Secret: full})
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	tenant, err := tenantFor(identity.FromContext(r.Context()), r.URL.Query().Get("tenant"), true)
	if err != nil {
		return err
	}
	keys, err := a.in.Store.ListKeys(r.Context(), tenant)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []store.Key{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": keys})
}

// scopedTenant is the tenant restriction for single-key operations: ""
// for admin:global.
func scopedTenant(id *identity.Identity) string {
	if id.HasScope(auth.ScopeAdminGlobal) {
		return ""
	}
	return id.Tenant
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	k, err := a.in.Store.GetKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if t := scopedTenant(id); t != "" && k.Tenant != t {
		return store.ErrNotFound
	}
	return writeJSON(w, http.StatusOK, k)
}

type keyPatch struct {
	Name    *string  `json:"name"`
	Scopes  []string `json:"scopes"`
	Models  []string `json:"models"`
	Tools   []string `json:"tools"`
	Expires *string  `json:"expires"`
	NoLog   *bool    `json:"no_log"`
	Guard   *string  `json:"guard"`
	limitFields
}

func (a *API) updateKey(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	var p keyPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	u := auth.KeyUpdate{Name: p.Name, Scopes: p.Scopes, Models: p.Models, Tools: p.Tools, NoLog: p.NoLog}
	if p.Expires != nil {
		d, err := parseDuration(*p.Expires)
		if err != nil {
			return err
		}
		u.Expires = &d
	}
	if p.Guard != nil {
		g, err := gatewayhook.Settings(*p.Guard)
		if err != nil {
			return fmt.Errorf("guard: %w: %w", err, auth.ErrInvalid)
		}
		u.Guard = &g
	}
	if err := a.patchLimits(r, id, p.limitFields, &u); err != nil {
		return err
	}
	k, err := a.in.Keys.UpdateAs(r.Context(), id, r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	if err := a.in.Keys.RevokeAs(r.Context(), id, r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "revoked": true, "at": time.Now().UTC()})
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	full, err := a.in.Keys.RotateAs(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "key": full})
}

// patchLimits makes the update merge the sent limit fields into the key's
// stored limits inside the store transaction, so two concurrent PATCHes of
// different fields cannot lose one. Tenant and grant checks happen in
// UpdateAs before the merge runs.
func (a *API) patchLimits(_ *http.Request, _ *identity.Identity, l limitFields, u *auth.KeyUpdate) error {
	if l.empty() {
		return nil
	}
	u.MergeLimits = func(stored string) (string, error) {
		base, err := limit.ParseSpec(stored)
		if err != nil {
			return "", fmt.Errorf("stored limits: %w", err)
		}
		sp, _, err := l.apply(base)
		if err != nil {
			return "", err
		}
		return sp.JSON(), nil
	}
	return nil
}
