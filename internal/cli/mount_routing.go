package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// newRouting builds the gateway's routing (deployments, breakers,
// retries), limits, budgets and idempotency from the configuration, with
// the state stores limits.backend selects (memory, or Redis shared by
// replicas), and registers the router's collector. closeState releases the
// state stores at shutdown.
func newRouting(in *instance.Instance, reg prometheus.Registerer) (_ gateway.Routing, _ *router.Router, closeState func(), err error) {
	cfg := in.Cfg
	newState := newMemoryState
	if cfg.Limits.Backend == config.BackendRedis {
		newState = func(cfg *config.Config) (sharedState, error) { return newRedisState(cfg, os.Getenv, in.Log) }
	}
	state, err := newState(cfg)
	if err != nil {
		return gateway.Routing{}, nil, nil, err
	}
	closeState = func() {}
	if state.close != nil {
		closeState = state.close
	}
	rtr, err := router.New(cfg.RouterConfig(), router.Options{Breakers: state.breakers})
	if err != nil {
		closeState()
		return gateway.Routing{}, nil, nil, fmt.Errorf("routing: %w", err)
	}
	if reg != nil {
		if err := reg.Register(rtr.Collector()); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				closeState()
				return gateway.Routing{}, nil, nil, fmt.Errorf("routing metrics: %w", err)
			}
		}
	}
	return gateway.Routing{
		Executor:    &router.Executor{Router: rtr, Policy: cfg.Routing.Retry},
		Deadline:    cfg.Routing.RequestTimeout,
		Gate:        state.gate,
		Limits:      keyLimits{keys: in.Keys, cfg: cfg.Limits},
		Idempotency: state.idem,
	}, rtr, closeState, nil
}

// keyLimits reads a caller's limits: its key record's Limits (through the
// keyring's cache) and its tenant's from the configuration. It fails closed:
// a key record that cannot be read or parsed refuses the call.
type keyLimits struct {
	keys *auth.Keys
	cfg  config.Limits
}

// Subjects implements gateway.LimitSource.
func (k keyLimits) Subjects(ctx context.Context, id *identity.Identity, dst []limit.Subject) ([]limit.Subject, error) {
	if id.Kind == identity.KindVirtualKey {
		rec, err := k.keys.Record(ctx, id.KeyID)
		if err != nil {
			return dst, fmt.Errorf("key limits of %s: %w", id.KeyID, err)
		}
		sp, err := limit.ParseSpec(rec.Limits)
		if err != nil {
			return dst, fmt.Errorf("key limits of %s: %w", id.KeyID, err)
		}
		dst = appendActive(dst, sp, "key:", id.KeyID)
	}
	if id.Tenant != "" {
		dst = appendActive(dst, k.cfg.TenantSpec(id.Tenant), "tenant:", id.Tenant)
	}
	return dst, nil
}

// appendActive appends the subject prefix+name of sp when sp sets a limit:
// a subject without one constrains nothing, and most keys have none, so
// their requests build no subject names.
func appendActive(dst []limit.Subject, sp limit.Spec, prefix, name string) []limit.Subject {
	if sub := sp.Subject(""); sub.Active() {
		sub.ID = prefix + name
		dst = append(dst, sub)
	}
	return dst
}
