// Package admin serves the admin REST API under /api/admin/: keys,
// tenants, providers and the audit head. A key with the admin scope manages
// its own tenant; admin:global manages every tenant. Bodies are decoded
// strictly and every change is audited in the same transaction.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// API is the admin API. Safe for concurrent use.
type API struct {
	in  *instance.Instance
	log *slog.Logger
}

// New returns the admin API over an opened instance.
func New(in *instance.Instance) *API { return &API{in: in, log: in.Log} }

// Mux is where routes are registered (an *http.ServeMux or the server).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the admin routes to mux; wrap runs authentication first.
func (a *API) Register(mux Mux, wrap func(http.Handler) http.Handler) {
	h := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, wrap(a.adminOnly(f)))
	}
	h("GET /api/admin/keys", a.listKeys)
	h("POST /api/admin/keys", a.createKey)
	h("GET /api/admin/keys/{id}", a.getKey)
	h("PATCH /api/admin/keys/{id}", a.updateKey)
	h("DELETE /api/admin/keys/{id}", a.revokeKey)
	h("POST /api/admin/keys/{id}/revoke", a.revokeKey)
	h("POST /api/admin/keys/{id}/rotate", a.rotateKey)
	h("GET /api/admin/tenants", a.listTenants)
	h("POST /api/admin/tenants", a.createTenant)
	h("GET /api/admin/providers", a.listProviders)
	h("POST /api/admin/providers", a.putProvider)
	h("DELETE /api/admin/providers/{name}", a.deleteProvider)
	h("GET /api/admin/audit/head", a.auditHead)
}

func (a *API) adminOnly(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !identity.FromContext(r.Context()).HasScope(auth.ScopeAdmin) {
			apierr.Write(w, r, apierr.OpenAI, apierr.Forbidden("insufficient_scope", "this key lacks the admin scope"), a.log)
			return
		}
		if err := f(w, r); err != nil {
			apierr.Write(w, r, apierr.OpenAI, publicError(err), a.log)
		}
	})
}

// publicError maps domain errors to their public face.
func publicError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierr.NotFound("not_found", "not found").WithCause(err)
	case errors.Is(err, store.ErrExists):
		return apierr.New(http.StatusConflict, "already_exists", "already exists").WithCause(err)
	case errors.Is(err, auth.ErrForbidden):
		return apierr.Forbidden("forbidden", publicText(err))
	case errors.Is(err, auth.ErrInvalid):
		return apierr.BadRequest("invalid_request", strings.TrimSuffix(err.Error(), ": invalid"))
	}
	return err
}

// publicText is an error's message without its wrapping prefixes' causes
// that mean nothing to a client.
func publicText(err error) string {
	msg := err.Error()
	msg = strings.TrimSuffix(msg, ": forbidden")
	msg = strings.TrimSuffix(msg, ": invalid")
	return msg
}

// actor names the caller in audit entries (public id only).
func actor(id *identity.Identity) string { return "key:" + id.KeyID }

// tenantFor returns the tenant an operation acts on: the caller's own, or
// for admin:global the requested one ("" = all for listings).
func tenantFor(id *identity.Identity, requested string, listing bool) (string, error) {
	if id.HasScope(auth.ScopeAdminGlobal) {
		if requested == "" && !listing {
			return store.DefaultTenant, nil
		}
		return requested, nil
	}
	if requested != "" && requested != id.Tenant {
		return "", apierr.Forbidden("tenant_forbidden", "this key administers only its own tenant")
	}
	return id.Tenant, nil
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors with a clear message.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return apierr.BadRequest("invalid_json", "invalid JSON body: "+jsonMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.BadRequest("invalid_json", "invalid JSON body: trailing data after the object")
	}
	return nil
}

func jsonMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// parseDuration accepts Go durations plus a "d" suffix for days.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || days < 0 {
			return 0, fmt.Errorf("duration %q: %w", s, auth.ErrInvalid)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: %w", s, auth.ErrInvalid)
	}
	return d, nil
}
