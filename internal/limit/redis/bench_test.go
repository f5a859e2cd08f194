package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/limit/redis"
	"github.com/bulwarkhq/bulwark/internal/redistest"
)

// BenchmarkGateAdmitFinish is the whole per-request limit path (key and
// tenant with RPM, TPM, max parallel and budgets) on each backend, side by
// side so one run compares them.
func BenchmarkGateAdmitFinish(b *testing.B) {
	subjects := []limit.Subject{
		{ID: "key:a", RPM: 1 << 24, TPM: 1 << 24, MaxParallel: 100, Budgeted: true, BudgetMicros: 1 << 50},
		{ID: "tenant:t", RPM: 1 << 24, TPM: 1 << 24, MaxParallel: 1000, Budgeted: true, BudgetMicros: 1 << 50, BudgetPeriod: limit.PeriodMonthly},
	}
	est := limit.Estimate{PromptTokens: 1, MaxOutputTokens: 1, Price: &limit.Price{InputPerMTok: 1, OutputPerMTok: 1}}
	ctx := context.Background()
	c := shared.Client(b)
	opts := redis.Options{Prefix: redistest.Prefix()}
	conc := redis.NewConcurrency(c, opts)
	defer conc.Close()
	gates := []struct {
		name string
		g    *limit.Gate
	}{
		{"memory", &limit.Gate{Rate: memory.NewRateLimiter(memory.Options{}), Concurrency: memory.NewConcurrency(memory.Options{}), Budget: memory.NewBudget(memory.Options{})}},
		{"redis", &limit.Gate{Rate: redis.NewRateLimiter(c, opts), Concurrency: conc, Budget: redis.NewBudget(c, opts)}},
	}
	for _, tt := range gates {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, err := tt.g.Admit(ctx, subjects, est)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Finish(ctx, limit.Usage{InputTokens: 1, OutputTokens: 1}, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTake is one RPM take on key and tenant: one script call.
func BenchmarkTake(b *testing.B) {
	c := shared.Client(b)
	l := redis.NewRateLimiter(c, redis.Options{Prefix: redistest.Prefix()})
	fast := limit.Rate{Limit: 1 << 20, Period: time.Second}
	limits := []limit.Limit{{Key: "rpm:key:a", Rate: fast}, {Key: "rpm:tenant:t", Rate: fast}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Take(ctx, 1, limits...); err != nil {
			b.Fatal(err)
		}
	}
}
