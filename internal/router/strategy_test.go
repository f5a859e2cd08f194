package router

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func testConfig(strategy Strategy, weights ...int) Config {
	cfg := Config{}
	names := []string{"a", "b", "c"}
	al := Alias{Name: "m", Strategy: strategy}
	for i, w := range weights {
		cfg.Deployments = append(cfg.Deployments, Deployment{Name: names[i], Provider: "mock", Model: names[i], Weight: w})
		al.Deployments = append(al.Deployments, names[i])
	}
	cfg.Aliases = []Alias{al}
	return cfg
}

func newTestRouter(t *testing.T, cfg Config, now func() time.Time) *Router {
	t.Helper()
	return newTestRouterN(t, cfg, now, 2)
}

// newTestRouterN opens breakers after n consecutive failures.
func newTestRouterN(t *testing.T, cfg Config, now func() time.Time, n int) *Router {
	t.Helper()
	mb, err := NewMemoryBreaker(BreakerConfig{ConsecutiveFailures: n, Cooldown: 10 * time.Second,
		HalfOpenProbes: 1, RateLimitCooldown: time.Second}, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, Options{Breakers: mb, Now: now, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(ds []Deployment) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name
	}
	return out
}

func TestFallbackOrderSkipsOpenAndCoolingDeployments(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newTestRouter(t, testConfig(Fallback, 1, 1, 1), func() time.Time { return now })
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func()
		want  []string
	}{
		{"configured order", func() {}, []string{"a", "b", "c"}},
		{"open breaker skipped", func() {
			_ = r.breakers.Record(ctx, "a", Failure, 0)
			_ = r.breakers.Record(ctx, "a", Failure, 0)
		}, []string{"b", "c"}},
		{"429 cooldown skipped", func() { _ = r.breakers.Record(ctx, "c", RateLimited, 5*time.Second) }, []string{"b"}},
		{"cooldowns end", func() { now = now.Add(10 * time.Second) }, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			got, err := r.Candidates(ctx, nil, "m")
			if err != nil || !slices.Equal(names(got), tt.want) {
				t.Fatalf("Candidates = %v, %v; want %v", names(got), err, tt.want)
			}
		})
	}
	for _, d := range []string{"a", "b", "c"} {
		_ = r.breakers.Record(ctx, d, RateLimited, time.Minute)
	}
	if _, err := r.Candidates(ctx, nil, "m"); !errors.Is(err, ErrNoHealthyDeployment) {
		t.Fatalf("all cooling down: err = %v", err)
	}
	if _, err := r.Candidates(ctx, nil, "nope"); !errors.Is(err, ErrUnknownAlias) {
		t.Fatalf("unknown alias: err = %v", err)
	}
}

func TestWeightedDistribution(t *testing.T) {
	r := newTestRouter(t, testConfig(Weighted, 1, 3, 6), nil)
	const n = 20000
	first := map[string]int{}
	for range n {
		got, err := r.Candidates(context.Background(), nil, "m")
		if err != nil || len(got) != 3 {
			t.Fatal(got, err)
		}
		first[got[0].Name]++
	}
	for name, want := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		share := float64(first[name]) / n
		if share < want-0.02 || share > want+0.02 {
			t.Errorf("%s first in %.3f of picks, want %.2f±0.02", name, share, want)
		}
	}
}

func TestLeastInFlightPicksTheIdle(t *testing.T) {
	r := newTestRouter(t, testConfig(LeastInFlight, 1, 1, 1), nil)
	endA := r.begin("a")
	endA2 := r.begin("a")
	endB := r.begin("b")
	got, _ := r.Candidates(context.Background(), nil, "m")
	if want := []string{"c", "b", "a"}; !slices.Equal(names(got), want) {
		t.Fatalf("order %v, want %v", names(got), want)
	}
	endA()
	endA2()
	endB()
	got, _ = r.Candidates(context.Background(), nil, "m")
	if want := []string{"a", "b", "c"}; !slices.Equal(names(got), want) {
		t.Fatalf("all idle: order %v, want configured %v", names(got), want)
	}
}

func TestLowestLatencyConverges(t *testing.T) {
	r := newTestRouter(t, testConfig(LowestLatency, 1, 1), nil)
	order := func() []string {
		got, _ := r.Candidates(context.Background(), nil, "m")
		return names(got)
	}
	r.ObserveTTFT("a", 100*time.Millisecond)
	if got := order(); got[0] != "b" {
		t.Fatalf("unmeasured b should be tried first, got %v", got)
	}
	r.ObserveTTFT("b", 300*time.Millisecond)
	if got := order(); got[0] != "a" {
		t.Fatalf("a is faster, got %v", got)
	}
	r.ObserveTTFT("b", 20*time.Millisecond) // one fast sample is not enough
	if got := order(); got[0] != "a" {
		t.Fatalf("EWMA moved too fast: %v", got)
	}
	for range 10 {
		r.ObserveTTFT("b", 20*time.Millisecond)
	}
	if got := order(); got[0] != "b" {
		t.Fatalf("after b got consistently faster, got %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(Fallback, 1, 1)
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"unknown strategy", func(c *Config) { c.Aliases[0].Strategy = "round-robin" }},
		{"unknown deployment", func(c *Config) { c.Aliases[0].Deployments = []string{"zz"} }},
		{"repeated deployment", func(c *Config) { c.Aliases[0].Deployments = []string{"a", "a"} }},
		{"duplicate deployment", func(c *Config) { c.Deployments = append(c.Deployments, c.Deployments[0]) }},
		{"negative weight", func(c *Config) { c.Deployments[0].Weight = -1 }},
		{"negative timeout", func(c *Config) { c.Deployments[0].Timeouts.IdleGap = -time.Second }},
		{"missing model", func(c *Config) { c.Deployments[0].Model = "" }},
		{"unknown context fallback", func(c *Config) { c.Aliases[0].ContextFallback = "big" }},
		{"context fallback cycle", func(c *Config) {
			c.Aliases[0].ContextFallback = "big"
			c.Aliases = append(c.Aliases, Alias{Name: "big", Strategy: Fallback, Deployments: []string{"b"}, ContextFallback: "m"})
		}},
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(Fallback, 1, 1)
			tt.mod(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	p := Policy{MaxAttempts: 9, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	caps := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, c := range caps {
		n := i + 1
		ceiling := c * time.Millisecond
		if got := p.Backoff(n, func(d time.Duration) time.Duration { return d }); got != ceiling {
			t.Errorf("retry %d: max jitter gives %v, want cap %v", n, got, ceiling)
		}
		if got := p.Backoff(n, func(time.Duration) time.Duration { return 0 }); got != 0 {
			t.Errorf("retry %d: full jitter must reach 0, got %v", n, got)
		}
		if got := p.Backoff(n, func(d time.Duration) time.Duration { return 10 * d }); got != ceiling {
			t.Errorf("retry %d: out-of-range jitter not clamped: %v", n, got)
		}
	}
	e := &Executor{}
	var low, high int
	for range 2000 {
		d := p.Backoff(3, e.jitter)
		if d < 0 || d > 400*time.Millisecond {
			t.Fatalf("backoff %v outside [0, 400ms]", d)
		}
		if d < 200*time.Millisecond {
			low++
		} else {
			high++
		}
	}
	if low < 800 || high < 800 {
		t.Fatalf("jitter not uniform over [0, cap]: %d low, %d high", low, high)
	}
}

// FuzzConfigValidate: whatever the table says, Validate never panics, and a
// table it accepts builds a router whose aliases all resolve.
func FuzzConfigValidate(f *testing.F) {
	f.Add("fallback", "a", "a", "", 1, int64(0))
	f.Add("weighted", "a", "b", "", 0, int64(5))
	f.Add("least-inflight", "a", "a", "m", 3, int64(-1))
	f.Add("round-robin", "", "a", "x", -1, int64(1))
	f.Fuzz(func(t *testing.T, strategy, dep, ref, fallback string, weight int, timeout int64) {
		cfg := Config{
			Deployments: []Deployment{{Name: dep, Provider: "p", Model: "m", Weight: weight, Timeouts: Timeouts{Total: time.Duration(timeout)}}},
			Aliases:     []Alias{{Name: "m", Strategy: Strategy(strategy), Deployments: []string{ref}, ContextFallback: fallback}},
		}
		if cfg.Validate() != nil {
			return
		}
		r, err := New(cfg, Options{})
		if err != nil {
			t.Fatalf("Validate accepted but New failed: %v", err)
		}
		got, err := r.Candidates(context.Background(), nil, "m")
		if err != nil || len(got) != 1 || got[0].Name != dep {
			t.Fatalf("Candidates = %v, %v", got, err)
		}
	})
}
