package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// staticLimits gives every caller the same subjects.
type staticLimits []limit.Subject

func (s staticLimits) Subjects(_ context.Context, _ *identity.Identity, dst []limit.Subject) ([]limit.Subject, error) {
	return append(dst, s...), nil
}

// withRouting turns on routing (alias "routed" over one deployment with
// its own limits), key and tenant limits with a budget, and idempotency.
func withRouting(tb testing.TB) envOpt {
	return func(_ *Config, d *Deps) {
		rtr, err := router.New(router.Config{
			Deployments: []router.Deployment{{Name: "east", Provider: "openai", Model: "gpt-4o-mini",
				RPM: 30_000_000, TPM: 30_000_000, MaxParallel: 10_000}},
			Aliases: []router.Alias{{Name: "routed", Strategy: router.Fallback, Deployments: []string{"east"}}},
		}, router.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		opts := memory.Options{}
		d.Routing = Routing{
			Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy},
			Deadline: time.Minute,
			Gate:     &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)},
			Limits: staticLimits{
				{ID: "key:k", RPM: 30_000_000, TPM: 30_000_000, MaxParallel: 10_000, Budgeted: true, BudgetMicros: 1 << 50},
				{ID: "tenant:t1", RPM: 30_000_000, TPM: 30_000_000, Budgeted: true, BudgetMicros: 1 << 50},
			},
			Idempotency: idempotency.NewMemory(idempotency.Options{}),
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoutingOverhead compares one request through the gateway
// without and with routing, limits and budgets (same fake upstream, same
// body), reporting process CPU per request (gateway, client and fake
// upstream together) next to the wall time.
func BenchmarkRoutingOverhead(b *testing.B) {
	msgs := `"messages":[{"role":"user","content":"` + strings.Repeat("hello world ", 40) + `"}]`
	for _, bc := range []struct {
		name, body string
		routed     bool
	}{
		{"plain", `{"model":"openai/gpt-4o-mini",` + msgs + `}`, false},
		{"routed+limits+budget", `{"model":"routed",` + msgs + `}`, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts []envOpt
			if bc.routed {
				opts = append(opts, withRouting(b))
			}
			e := newEnv(&testing.T{}, opts...)
			defer e.gw.Close()
			defer e.openai.Close()
			defer e.anth.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/chat/completions", strings.NewReader(bc.body))
					req.Header.Set("Authorization", "Bearer k")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
