package admin

import (
	"context"
	"net/http"

	"github.com/bulwarkhq/bulwark/internal/router"
)

// HealthSource reports the health of every upstream deployment
// (*router.Router implements it). It must be safe for concurrent use.
type HealthSource interface {
	Health(ctx context.Context) []router.DeploymentHealth
}

// RegisterHealth adds GET /api/admin/health (admin scope): per deployment,
// its breaker state, consecutive failures, window counts, 429 cooldown,
// attempts in flight and time-to-first-token average. It names deployments,
// providers and models only: never a credential or an upstream message.
func (a *API) RegisterHealth(mux Mux, wrap func(http.Handler) http.Handler, src HealthSource) {
	mux.Handle("GET /api/admin/health", wrap(a.adminOnly(func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": src.Health(r.Context())})
	})))
}
