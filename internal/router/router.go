package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnknownAlias is returned for a model name with no alias.
var ErrUnknownAlias = errors.New("router: unknown model alias")

// ErrNoHealthyDeployment is returned when every deployment of an alias is
// open or cooling down.
var ErrNoHealthyDeployment = errors.New("router: no healthy deployment")

// ewmaAlpha weighs a new time-to-first-token sample in the running average.
const ewmaAlpha = 0.3

// Options are the router's collaborators.
type Options struct {
	// Breakers holds breaker state; nil means a MemoryBreaker with
	// DefaultBreakerConfig.
	Breakers BreakerStore
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
	// Rand drives the weighted strategy; nil means a randomly seeded source.
	// Tests pass a seeded one for reproducible distributions.
	Rand *rand.Rand
}

// Router resolves aliases to ordered candidates and tracks per-deployment
// load and latency. It is safe for concurrent use; the routing table is
// fixed at construction (build a new Router to reload configuration).
type Router struct {
	deps     map[string]*deployment
	order    []*deployment // configuration order, for health and metrics
	aliases  map[string]*alias
	breakers BreakerStore
	now      func() time.Time

	rngMu sync.Mutex
	rng   *rand.Rand
}

type deployment struct {
	Deployment
	inFlight atomic.Int64
	ewmaBits atomic.Uint64 // float64 nanoseconds; 0 = not measured yet
}

type alias struct {
	Alias
	deps []*deployment
}

// New validates cfg and builds a router.
func New(cfg Config, opts Options) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) //nolint:gosec // G404: weighted load balancing, not a security decision
	}
	if opts.Breakers == nil {
		mb, err := NewMemoryBreaker(DefaultBreakerConfig, opts.Now, 0)
		if err != nil {
			return nil, err
		}
		opts.Breakers = mb
	}
	r := &Router{
		deps: make(map[string]*deployment), aliases: make(map[string]*alias),
		breakers: opts.Breakers, now: opts.Now, rng: opts.Rand,
	}
	for _, d := range cfg.Deployments {
		dp := &deployment{Deployment: d}
		r.deps[d.Name] = dp
		r.order = append(r.order, dp)
	}
	for _, a := range cfg.Aliases {
		al := &alias{Alias: a}
		for _, name := range a.Deployments {
			al.deps = append(al.deps, r.deps[name])
		}
		r.aliases[a.Name] = al
	}
	return r, nil
}

// Alias returns the alias named name.
func (r *Router) Alias(name string) (Alias, bool) {
	a, ok := r.aliases[name]
	if !ok {
		return Alias{}, false
	}
	return a.Alias, true
}

// Deployment returns the deployment named name.
func (r *Router) Deployment(name string) (Deployment, bool) {
	d, ok := r.deps[name]
	if !ok {
		return Deployment{}, false
	}
	return d.Deployment, true
}

// Aliases returns the names of every alias, sorted.
func (r *Router) Aliases() []string {
	out := make([]string, 0, len(r.aliases))
	for name := range r.aliases {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Deployments returns every deployment in configuration order.
func (r *Router) Deployments() []Deployment {
	out := make([]Deployment, 0, len(r.order))
	for _, d := range r.order {
		out = append(out, d.Deployment)
	}
	return out
}

// Breakers returns the breaker store the router consults.
func (r *Router) Breakers() BreakerStore { return r.breakers }

// Candidates appends to dst the deployments of alias in the order its
// strategy prefers for this request, leaving out those whose breaker is open
// or that cool down after a 429. It returns ErrNoHealthyDeployment when none
// is left. Breaker store errors do not exclude a deployment: the breaker
// protects availability, not access, so a broken store must not turn into
// an outage (limits and budgets, which are access controls, fail closed).
// With a dst of sufficient capacity it does not allocate.
func (r *Router) Candidates(ctx context.Context, dst []Deployment, name string) ([]Deployment, error) {
	a, ok := r.aliases[name]
	if !ok {
		return dst, fmt.Errorf("%w: %q", ErrUnknownAlias, name)
	}
	var buf [maxAliasDeployments]*deployment
	ordered := r.order1(a, buf[:0])
	now := r.now()
	base := len(dst)
	for _, d := range ordered {
		if st, err := r.breakers.Status(ctx, d.Name); err == nil && !st.Available(now) {
			continue
		}
		dst = append(dst, d.Deployment)
	}
	if len(dst) == base {
		return dst, fmt.Errorf("%w for %q", ErrNoHealthyDeployment, name)
	}
	return dst, nil
}

// order1 orders a's deployments by its strategy into buf.
func (r *Router) order1(a *alias, buf []*deployment) []*deployment {
	buf = append(buf, a.deps...)
	switch a.Strategy {
	case Weighted:
		r.shuffleWeighted(buf)
	case LeastInFlight:
		insertionSort(buf, func(d *deployment) float64 { return float64(d.inFlight.Load()) })
	case LowestLatency:
		insertionSort(buf, func(d *deployment) float64 { return math.Float64frombits(d.ewmaBits.Load()) })
	}
	return buf
}

// shuffleWeighted orders ds by weighted sampling without replacement: the
// first is picked with probability weight/total, the next among the rest.
func (r *Router) shuffleWeighted(ds []*deployment) {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	for i := 0; i < len(ds)-1; i++ {
		total := 0
		for _, d := range ds[i:] {
			total += weight(d)
		}
		pick := r.rng.IntN(total)
		for j := i; j < len(ds); j++ {
			if pick -= weight(ds[j]); pick < 0 {
				ds[i], ds[j] = ds[j], ds[i]
				break
			}
		}
	}
}

func weight(d *deployment) int { return max(d.Weight, 1) }

// insertionSort sorts small slices stably by key without allocating.
func insertionSort(ds []*deployment, key func(*deployment) float64) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && key(ds[j]) < key(ds[j-1]); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// begin counts an attempt in flight on name and returns its end.
func (r *Router) begin(name string) func() {
	d := r.deps[name]
	if d == nil {
		return func() {}
	}
	d.inFlight.Add(1)
	return func() { d.inFlight.Add(-1) }
}

// ObserveTTFT feeds one time-to-first-token sample of deployment name into
// its EWMA. The executor calls it; adapters need not.
func (r *Router) ObserveTTFT(name string, ttft time.Duration) {
	d := r.deps[name]
	if d == nil || ttft < 0 {
		return
	}
	sample := float64(ttft)
	for {
		old := d.ewmaBits.Load()
		next := sample
		if old != 0 {
			prev := math.Float64frombits(old)
			next = prev + ewmaAlpha*(sample-prev)
		}
		if next == 0 {
			next = math.SmallestNonzeroFloat64 // 0 means "not measured"
		}
		if d.ewmaBits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// DeploymentHealth is one row of GET /api/admin/health.
type DeploymentHealth struct {
	Name      string  `json:"name"`
	Provider  string  `json:"provider"`
	Model     string  `json:"model"`
	InFlight  int64   `json:"in_flight"`
	TTFTMilli float64 `json:"ttft_ewma_ms"`
	Breaker   Status  `json:"breaker"`
	// BreakerError is set when the state store could not be read.
	BreakerError string `json:"breaker_error,omitempty"`
}

// Health returns a JSON-ready snapshot of every deployment, in
// configuration order.
func (r *Router) Health(ctx context.Context) []DeploymentHealth {
	out := make([]DeploymentHealth, 0, len(r.order))
	for _, d := range r.order {
		h := DeploymentHealth{
			Name: d.Name, Provider: d.Provider, Model: d.Model,
			InFlight:  d.inFlight.Load(),
			TTFTMilli: math.Float64frombits(d.ewmaBits.Load()) / float64(time.Millisecond),
		}
		st, err := r.breakers.Status(ctx, d.Name)
		if err != nil {
			h.BreakerError = "state store unavailable" // the cause goes to the log, not the API
		}
		h.Breaker = st
		out = append(out, h)
	}
	return out
}
