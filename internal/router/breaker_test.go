package router_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/router/breakertest"
)

func TestMemoryBreakerConformance(t *testing.T) {
	breakertest.Run(t, func(t *testing.T, cfg router.BreakerConfig, now func() time.Time) router.BreakerStore {
		b, err := router.NewMemoryBreaker(cfg, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestMemoryBreakerBounded(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	b, err := router.NewMemoryBreaker(router.DefaultBreakerConfig, clock, 100)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 100 {
		if err := b.Record(ctx, fmt.Sprint(i), router.Failure, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Record(ctx, "one-too-many", router.Failure, 0); err == nil {
		t.Fatal("store grew past its bound")
	}
	now = now.Add(time.Hour)
	if err := b.Record(ctx, "fresh", router.Failure, 0); err != nil {
		t.Fatalf("idle entries were not expired: %v", err)
	}
	if n := b.Len(); n != 1 {
		t.Fatalf("%d entries tracked after expiry, want 1", n)
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*router.BreakerConfig)
	}{
		{"rate above one", func(c *router.BreakerConfig) { c.ErrorRate = 1.5 }},
		{"rate without minimum", func(c *router.BreakerConfig) { c.MinRequests = 0 }},
		{"no cooldown", func(c *router.BreakerConfig) { c.Cooldown = 0 }},
		{"no probes", func(c *router.BreakerConfig) { c.HalfOpenProbes = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := router.DefaultBreakerConfig
			tt.mod(&cfg)
			if _, err := router.NewMemoryBreaker(cfg, nil, 0); err == nil {
				t.Fatal("invalid config accepted")
			}
		})
	}
}
