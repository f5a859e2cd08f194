package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
)

// fast never refuses in a benchmark: a million per millisecond.
var fast = limit.Rate{Limit: 1 << 20, Period: time.Millisecond}

func BenchmarkTake(b *testing.B) {
	l := memory.NewRateLimiter(memory.Options{})
	ctx := context.Background()
	limits := []limit.Limit{
		{Key: "rpm:key:a", Rate: fast},
		{Key: "rpm:tenant:t", Rate: fast},
	}
	b.ReportAllocs()
	for b.Loop() {
		if d, err := l.Take(ctx, 1, limits...); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
	}
}

func BenchmarkTakeParallel(b *testing.B) {
	l := memory.NewRateLimiter(memory.Options{})
	ctx := context.Background()
	lm := limit.Limit{Key: "rpm:key:a", Rate: fast}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = l.Take(ctx, 1, lm)
		}
	})
}

func BenchmarkReserveReconcileTokens(b *testing.B) {
	l := memory.NewRateLimiter(memory.Options{})
	ctx := context.Background()
	lm := limit.Limit{Key: "tpm:key:a", Rate: fast}
	b.ReportAllocs()
	for b.Loop() {
		res, _, err := limit.ReserveTokens(ctx, l, 100, lm)
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Reconcile(ctx, 90); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAcquire(b *testing.B) {
	c := memory.NewConcurrency(memory.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		release, err := c.Acquire(ctx, "par:key:a", 10)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

func BenchmarkBudgetReserveSettle(b *testing.B) {
	bud := memory.NewBudget(memory.Options{})
	ctx := context.Background()
	scopes := []limit.BudgetScope{
		{ID: "key:a", LimitMicros: 1 << 62, Period: limit.PeriodMonthly},
		{ID: "tenant:t", LimitMicros: 1 << 62},
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := bud.Reserve(ctx, scopes, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := bud.Settle(ctx, res, 900); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGateAdmitFinish is the whole per-request limit path: key and
// tenant with RPM, TPM, max parallel and budgets.
func BenchmarkGateAdmitFinish(b *testing.B) {
	bud := memory.NewBudget(memory.Options{})
	g := &limit.Gate{Rate: memory.NewRateLimiter(memory.Options{}), Concurrency: memory.NewConcurrency(memory.Options{}), Budget: bud}
	subjects := []limit.Subject{
		{ID: "key:a", RPM: 1 << 24, TPM: 1 << 24, MaxParallel: 100, Budgeted: true, BudgetMicros: 1 << 62},
		{ID: "tenant:t", RPM: 1 << 24, TPM: 1 << 24, MaxParallel: 1000, Budgeted: true, BudgetMicros: 1 << 62, BudgetPeriod: limit.PeriodMonthly},
	}
	est := limit.Estimate{PromptTokens: 1, MaxOutputTokens: 1, Price: &limit.Price{InputPerMTok: 1, OutputPerMTok: 1}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a, err := g.Admit(ctx, subjects, est)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Finish(ctx, limit.Usage{InputTokens: 1, OutputTokens: 1}, true); err != nil {
			b.Fatal(err)
		}
	}
}
