package admin

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// TenantName is what a tenant may be called: it becomes a directory name
// for tool workspaces, so no separators or dots.
var TenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	ts, err := a.in.Store.ListTenants(r.Context())
	if err != nil {
		return err
	}
	out := []store.Tenant{}
	for _, t := range ts {
		if id.HasScope(auth.ScopeAdminGlobal) || t.Name == id.Tenant {
			out = append(out, t)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	if !id.HasScope(auth.ScopeAdminGlobal) {
		return apierr.Forbidden("insufficient_scope", "creating tenants needs the admin:global scope")
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if !TenantName.MatchString(req.Name) {
		return apierr.BadRequest("invalid_tenant", "tenant names are 1–63 of a-z 0-9 _ - starting with a letter or digit")
	}
	ev := audit.Event{Tenant: req.Name, Actor: actor(id), Action: "tenant.create", Target: req.Name}
	if err := a.in.Store.CreateTenant(r.Context(), req.Name, a.in.Audit.Func(ev)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
}

func (a *API) listProviders(w http.ResponseWriter, r *http.Request) error {
	tenant, err := tenantFor(identity.FromContext(r.Context()), r.URL.Query().Get("tenant"), true)
	if err != nil {
		return err
	}
	ps, err := a.in.Store.ListProviders(r.Context(), tenant)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []store.Provider{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": ps})
}

type providerRequest struct {
	Name      string   `json:"name"`
	Tenant    string   `json:"tenant"`
	Type      string   `json:"type"`
	BaseURL   string   `json:"base_url"`
	Models    []string `json:"models"`
	APIKey    string   `json:"api_key"`
	APIKeyEnv string   `json:"api_key_env"`
}

// ProviderName is what a provider may be called (it is the part before
// the "/" of a model address).
var ProviderName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateProvider checks a provider definition.
func ValidateProvider(name, typ, baseURL string) error {
	if !ProviderName.MatchString(name) {
		return apierr.BadRequest("invalid_provider", "provider names are 1–63 of a-z 0-9 _ -")
	}
	switch typ {
	case "openai", "anthropic", "gemini", "mock":
	default:
		return apierr.BadRequest("invalid_provider", "type must be openai, anthropic, gemini or mock")
	}
	if typ != "mock" {
		if err := provider.CheckBaseURL(baseURL); err != nil {
			return apierr.BadRequest("invalid_provider", err.Error())
		}
	}
	return nil
}

// Providers decide where the gateway connects and with which credential,
// so managing them needs admin:global: a tenant admin could otherwise point
// a provider at an internal address (SSRF) or at a credential that is not
// theirs.
func requireGlobal(id *identity.Identity) error {
	if !id.HasScope(auth.ScopeAdminGlobal) {
		return apierr.Forbidden("insufficient_scope", "managing providers needs the admin:global scope")
	}
	return nil
}

func (a *API) putProvider(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	if err := requireGlobal(id); err != nil {
		return err
	}
	var req providerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tenant, err := tenantFor(id, req.Tenant, false)
	if err != nil {
		return err
	}
	if err := ValidateProvider(req.Name, req.Type, req.BaseURL); err != nil {
		return err
	}
	if req.APIKey != "" && req.APIKeyEnv != "" {
		return apierr.BadRequest("invalid_provider", "give api_key or api_key_env, not both")
	}
	if err := a.in.CheckCredentialEnv(req.APIKeyEnv); err != nil {
		return apierr.BadRequest("invalid_provider", err.Error())
	}
	p := store.Provider{Tenant: tenant, Name: req.Name, Type: req.Type, BaseURL: req.BaseURL, Models: req.Models, CredentialEnv: req.APIKeyEnv}
	if err := a.in.PutProvider(r.Context(), actor(id), p, []byte(req.APIKey)); err != nil {
		if errors.Is(err, instance.ErrShadowedProvider) {
			return apierr.New(http.StatusConflict, "provider_in_config", err.Error())
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"tenant": tenant, "name": req.Name})
}

func (a *API) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	id := identity.FromContext(r.Context())
	if err := requireGlobal(id); err != nil {
		return err
	}
	tenant, err := tenantFor(id, r.URL.Query().Get("tenant"), false)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	ev := audit.Event{Tenant: tenant, Actor: actor(id), Action: "provider.remove", Target: name}
	if err := a.in.Store.DeleteProvider(r.Context(), tenant, name, a.in.Audit.Func(ev)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "deleted": true})
}

func (a *API) auditHead(w http.ResponseWriter, r *http.Request) error {
	if !identity.FromContext(r.Context()).HasScope(auth.ScopeAdminGlobal) {
		return apierr.Forbidden("insufficient_scope", "the audit head needs the admin:global scope")
	}
	h, err := a.in.Audit.Head(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"seq": h.Seq, "mac": h.MAC, "head": h.String()})
}
