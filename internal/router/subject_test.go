package router

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
)

// TestDeploymentLimitsSkipToTheNextDeployment drives the executor with a
// real limit.Gate: a deployment over its provider quota is skipped without
// an upstream call, an attempt or a breaker failure.
func TestDeploymentLimitsSkipToTheNextDeployment(t *testing.T) {
	cfg := testConfig(Fallback, 1, 1)
	cfg.Deployments[0].RPM = 2
	r := newTestRouter(t, cfg, nil)
	gate := &limit.Gate{Rate: memory.NewRateLimiter(memory.Options{}), Concurrency: memory.NewConcurrency(memory.Options{})}
	upstream := map[string]*atomic.Int64{"a": {}, "b": {}}
	attempt := func(ctx context.Context, d Deployment) error {
		adm, err := gate.Admit(ctx, []limit.Subject{DeploymentSubject(d)}, limit.Estimate{PromptTokens: 10})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSkipDeployment, err)
		}
		upstream[d.Name].Add(1)
		return adm.Finish(ctx, limit.Usage{InputTokens: 10}, true)
	}
	e := &Executor{Router: r}
	var served []string
	for range 4 {
		res, err := e.Do(context.Background(), "m", attempt, nil)
		if err != nil || res.Attempts != 1 {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		served = append(served, res.Deployment.Name)
	}
	if fmt.Sprint(served) != "[a a b b]" || upstream["a"].Load() != 2 {
		t.Fatalf("served by %v (a called %d times); want a twice then b", served, upstream["a"].Load())
	}
	if st, _ := r.breakers.Status(context.Background(), "a"); st.ConsecutiveFailures != 0 {
		t.Fatalf("a skipped deployment was blamed: %+v", st)
	}
	only := testConfig(Fallback, 1)
	only.Deployments[0].MaxParallel = 1
	r = newTestRouter(t, only, nil)
	hold, _ := gate.Admit(context.Background(), []limit.Subject{DeploymentSubject(only.Deployments[0])}, limit.Estimate{})
	defer hold.Abort(context.Background())
	_, err := (&Executor{Router: r}).Do(context.Background(), "m", attempt, nil)
	if !errors.Is(err, ErrNoHealthyDeployment) || !errors.Is(err, limit.ErrDenied) {
		t.Fatalf("every deployment at its limit: err = %v", err)
	}
}
