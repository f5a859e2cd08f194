package memory_test

import (
	"testing"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/limittest"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
)

func newImpl(t *testing.T, clock limit.Clock) limittest.Impl {
	opts := memory.Options{Clock: clock}
	r, c, b := memory.NewRateLimiter(opts), memory.NewConcurrency(opts), memory.NewBudget(opts)
	return limittest.Impl{
		Rate: r, Concurrency: c, Budget: b,
		Size: func() int {
			scopes, holds := b.Len()
			return r.Len() + c.Len() + scopes + holds
		},
	}
}

func TestConformance(t *testing.T) { limittest.Run(t, newImpl) }
