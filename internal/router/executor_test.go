package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a fault-injecting fake provider on 127.0.0.1. The path selects
// the behaviour: /ok, /500, /429 (retry-after in ?ra=), /reset, /hang,
// /slow (40ms latency), /drip (one chunk then silence), /cut (one chunk then a dropped
// connection), /ctx (context-window 400), /400.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{hits: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[path]
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.hits[r.URL.Path]++
	u.mu.Unlock()
	// Read the body so the server watches the connection and cancels
	// r.Context() when the client gives up.
	_, _ = io.Copy(io.Discard, r.Body)
	switch r.URL.Path {
	case "/ok":
		io.WriteString(w, "data: hello\n\n")
	case "/slow":
		time.Sleep(40 * time.Millisecond)
		io.WriteString(w, "data: hello\n\n")
	case "/500":
		http.Error(w, "boom", 500)
	case "/429":
		w.Header().Set("Retry-After", r.URL.Query().Get("ra"))
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "/ctx":
		http.Error(w, `{"error":{"code":"context_length_exceeded"}}`, 400)
	case "/400":
		http.Error(w, "bad temperature", 400)
	case "/reset":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	case "/hang":
		<-r.Context().Done()
	case "/drip", "/cut":
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/cut" {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		<-r.Context().Done()
	}
}

// attempt calls the fake upstream like a provider adapter would: errors
// become *UpstreamError, every chunk is reported with Progress, and the
// first chunk is "sent to the client" when forward is set.
func (u *upstream) attempt(now func() time.Time, forward bool, sent *atomic.Bool) Attempt {
	return func(ctx context.Context, d Deployment) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", u.URL+d.Model, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("call %s: %w", d.Name, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			body, _ := io.ReadAll(resp.Body)
			return NewUpstreamError(resp.StatusCode, string(body), resp.Header, now())
		}
		buf := make([]byte, 64)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				Progress(ctx)
				if forward {
					sent.Store(true)
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", d.Name, err)
			}
		}
	}
}

// fakeClock: Sleep advances Now and records the sleeps.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return ctx.Err()
}

type execCase struct {
	name     string
	models   []string // one deployment per model path
	timeouts Timeouts
	forward  bool
	deadline time.Duration
	policy   Policy
	wantErr  error  // nil: success expected
	wantDep  string // deployment that served
	hits     map[string]int
	attempts int
	// breakerAfter consecutive failures open a breaker (default 2).
	breakerAfter int
}

func runExec(t *testing.T, tt execCase) (*fakeClock, Result, error) {
	u := newUpstream(t)
	clock := &fakeClock{now: time.Now()}
	cfg := Config{Aliases: []Alias{{Name: "m", Strategy: Fallback}}}
	for i, m := range tt.models {
		name := fmt.Sprintf("d%d", i)
		cfg.Deployments = append(cfg.Deployments, Deployment{Name: name, Provider: "mock", Model: m, Timeouts: tt.timeouts})
		cfg.Aliases[0].Deployments = append(cfg.Aliases[0].Deployments, name)
	}
	if tt.breakerAfter == 0 {
		tt.breakerAfter = 2
	}
	r := newTestRouterN(t, cfg, clock.Now, tt.breakerAfter)
	e := &Executor{Router: r, Policy: tt.policy, Now: clock.Now, Sleep: clock.Sleep,
		Jitter: func(d time.Duration) time.Duration { return d }}
	if e.Policy.MaxAttempts == 0 {
		e.Policy = Policy{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	}
	ctx := context.Background()
	if tt.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, clock.Now().Add(tt.deadline))
		defer cancel()
	}
	var sent atomic.Bool
	res, err := e.Do(ctx, "m", u.attempt(clock.Now, tt.forward, &sent), sent.Load)
	for path, n := range tt.hits {
		if got := u.count(path); got != n {
			t.Errorf("upstream %s hit %d times, want %d", path, got, n)
		}
	}
	if tt.attempts > 0 && res.Attempts != tt.attempts {
		t.Errorf("attempts = %d, want %d", res.Attempts, tt.attempts)
	}
	return clock, res, err
}

func TestExecutor(t *testing.T) {
	fast := Timeouts{FirstByte: 100 * time.Millisecond, IdleGap: 100 * time.Millisecond}
	tests := []execCase{
		{name: "fallback past 500, reset and hang to a healthy deployment",
			models: []string{"/500", "/reset", "/hang", "/ok"}, timeouts: fast, wantDep: "d3",
			hits: map[string]int{"/500": 1, "/reset": 1, "/hang": 1, "/ok": 1}, attempts: 4},
		{name: "429 retry-after honoured on the same deployment",
			models: []string{"/429?ra=1"}, policy: Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
			wantErr: ErrAttemptsExhausted, hits: map[string]int{"/429": 2}, attempts: 2},
		{name: "429 without retry-after waits out the breaker's cooldown",
			models: []string{"/429?ra="}, policy: Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
			wantErr: ErrAttemptsExhausted, hits: map[string]int{"/429": 2}, attempts: 2},
		{name: "fatal 400 is not retried", models: []string{"/400", "/ok"},
			wantErr: &UpstreamError{}, hits: map[string]int{"/400": 1, "/ok": 0}, attempts: 1},
		{name: "no retry once the first byte reached the client", models: []string{"/cut", "/ok"}, forward: true,
			wantErr: io.ErrUnexpectedEOF, hits: map[string]int{"/cut": 1, "/ok": 0}, attempts: 1},
		{name: "cut before forwarding falls back", models: []string{"/cut", "/ok"}, wantDep: "d1",
			hits: map[string]int{"/cut": 1, "/ok": 1}},
		{name: "idle stream times out and falls back", models: []string{"/drip", "/ok"}, timeouts: fast,
			wantDep: "d1", hits: map[string]int{"/drip": 1, "/ok": 1}},
		{name: "retry-after beyond the deadline returns at once", models: []string{"/429?ra=30"}, deadline: 5 * time.Second,
			wantErr: ErrDeadline, hits: map[string]int{"/429": 1}, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock, res, err := runExec(t, tt)
			if tt.wantErr == nil {
				if err != nil || res.Deployment.Name != tt.wantDep {
					t.Fatalf("Do = %+v, %v; want success on %s", res, err, tt.wantDep)
				}
				return
			}
			var ue *UpstreamError
			if _, isUE := tt.wantErr.(*UpstreamError); isUE && !errors.As(err, &ue) || !isUE && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(tt.name, "429 retry-after") && (len(clock.sleeps) != 1 || clock.sleeps[0] != time.Second) {
				t.Fatalf("sleeps %v, want one of 1s (the retry-after)", clock.sleeps)
			}
		})
	}
}

func TestRetriesNeverPassTheDeadline(t *testing.T) {
	for _, deadline := range []time.Duration{50 * time.Millisecond, 700 * time.Millisecond, 2500 * time.Millisecond} {
		t.Run(deadline.String(), func(t *testing.T) {
			start := time.Now()
			clock, res, err := runExec(t, execCase{models: []string{"/500"}, deadline: deadline, breakerAfter: 1000,
				policy: Policy{MaxAttempts: 100, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}})
			if !errors.Is(err, ErrDeadline) {
				t.Fatalf("err = %v, want ErrDeadline", err)
			}
			var slept time.Duration
			for _, s := range clock.sleeps {
				slept += s
			}
			if slept >= deadline || res.Attempts != len(clock.sleeps)+1 {
				t.Fatalf("slept %v over %d sleeps for %d attempts; deadline %v", slept, len(clock.sleeps), res.Attempts, deadline)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("test used real time for backoff")
			}
		})
	}
}

func TestContextWindowFallback(t *testing.T) {
	u := newUpstream(t)
	cfg := Config{
		Deployments: []Deployment{
			{Name: "small", Provider: "mock", Model: "/ctx", ContextWindow: 8000},
			{Name: "large", Provider: "mock", Model: "/ok", ContextWindow: 200000},
		},
		Aliases: []Alias{
			{Name: "m", Strategy: Fallback, Deployments: []string{"small"}, ContextFallback: "m-long"},
			{Name: "m-long", Strategy: Fallback, Deployments: []string{"large"}},
		},
	}
	r := newTestRouter(t, cfg, nil)
	e := &Executor{Router: r}
	var sent atomic.Bool
	res, err := e.Do(context.Background(), "m", u.attempt(time.Now, false, &sent), sent.Load)
	if err != nil || res.Deployment.Name != "large" || res.Alias != "m-long" {
		t.Fatalf("Do = %+v, %v; want served by large via m-long", res, err)
	}
	// Without a fallback alias the context error is final.
	res, err = e.Do(context.Background(), "m-long", func(ctx context.Context, d Deployment) error {
		return &UpstreamError{Status: 400, Message: "prompt is too long"}
	}, nil)
	if Classify(0, err) != ContextWindow || res.Attempts != 1 {
		t.Fatalf("Do = %+v, %v; want one context-window failure", res, err)
	}
}

func TestBreakerOpensAndRecoversThroughExecutor(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	cfg := testConfig(Fallback, 1)
	r := newTestRouter(t, cfg, clock.Now) // opens after 2 consecutive failures, 10s cooldown
	e := &Executor{Router: r, Policy: Policy{MaxAttempts: 1}, Now: clock.Now, Sleep: clock.Sleep}
	var healthy atomic.Bool
	var calls atomic.Int64
	attempt := func(ctx context.Context, d Deployment) error {
		calls.Add(1)
		if healthy.Load() {
			return nil
		}
		return &UpstreamError{Status: 503}
	}
	ctx := context.Background()
	for range 2 {
		if _, err := e.Do(ctx, "m", attempt, nil); err == nil {
			t.Fatal("failing upstream succeeded")
		}
	}
	if _, err := e.Do(ctx, "m", attempt, nil); !errors.Is(err, ErrNoHealthyDeployment) || calls.Load() != 2 {
		t.Fatalf("open breaker: err = %v after %d calls; want refusal without a call", err, calls.Load())
	}
	if st := r.Health(ctx)[0].Breaker.State; st != Open {
		t.Fatalf("health says %s, want open", st)
	}
	clock.Sleep(ctx, 10*time.Second)
	healthy.Store(true)
	if _, err := e.Do(ctx, "m", attempt, nil); err != nil {
		t.Fatalf("half-open probe to a healthy upstream failed: %v", err)
	}
	if st := r.Health(ctx)[0].Breaker.State; st != Closed {
		t.Fatalf("after a successful probe health says %s, want closed", st)
	}
}

func TestClientGoneStopsRetries(t *testing.T) {
	r := newTestRouter(t, testConfig(Fallback, 1, 1), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	_, err := (&Executor{Router: r}).Do(ctx, "m", func(ctx context.Context, d Deployment) error {
		calls.Add(1)
		cancel()
		return fmt.Errorf("read: %w", ctx.Err())
	}, nil)
	if !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls; want one call then stop", err, calls.Load())
	}
}

func TestLowestLatencyRoutesToTheFasterUpstream(t *testing.T) {
	u := newUpstream(t)
	cfg := Config{
		Deployments: []Deployment{
			{Name: "slow", Provider: "mock", Model: "/slow"},
			{Name: "fast", Provider: "mock", Model: "/ok"},
		},
		Aliases: []Alias{{Name: "m", Strategy: LowestLatency, Deployments: []string{"slow", "fast"}}},
	}
	e := &Executor{Router: newTestRouter(t, cfg, nil)}
	var sent atomic.Bool
	var served []string
	for range 6 {
		res, err := e.Do(context.Background(), "m", u.attempt(time.Now, false, &sent), sent.Load)
		if err != nil {
			t.Fatal(err)
		}
		served = append(served, res.Deployment.Name)
	}
	// Both are measured first (unmeasured go first), then the fast one wins.
	if fmt.Sprint(served[2:]) != "[fast fast fast fast]" || u.count("/slow") != 1 {
		t.Fatalf("served %v, slow called %d times", served, u.count("/slow"))
	}
}
