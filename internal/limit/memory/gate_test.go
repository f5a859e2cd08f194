package memory_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
)

// dollarPrice makes 1000 prompt + 1000 output tokens cost exactly $1.
var dollarPrice = &limit.Price{InputPerMTok: 500_000_000, OutputPerMTok: 500_000_000}

var oneDollar = limit.Estimate{PromptTokens: 1000, MaxOutputTokens: 1000, Price: dollarPrice}

func newGate() (*limit.Gate, *memory.Budget) {
	b := memory.NewBudget(memory.Options{})
	return &limit.Gate{
		Rate:        memory.NewRateLimiter(memory.Options{}),
		Concurrency: memory.NewConcurrency(memory.Options{}),
		Budget:      b,
	}, b
}

// gateServer is a real HTTP server whose handler admits each request
// through the gate the way the gateway will, "calls upstream" for hold, and
// settles with the full worst-case usage.
func gateServer(t *testing.T, g *limit.Gate, subjects []limit.Subject, est limit.Estimate, hold time.Duration, peak *atomic.Int64) *httptest.Server {
	var inFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := g.Admit(r.Context(), subjects, est)
		var denied *limit.Denied
		switch {
		case errors.As(err, &denied):
			limit.SetHeaders(w.Header(), denied.Requests, denied.Tokens)
			if denied.RetryAfter > 0 && w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
			status := http.StatusTooManyRequests
			if denied.Reason == limit.ReasonNoPrice {
				status = http.StatusBadRequest
			}
			http.Error(w, string(denied.Reason), status)
			return
		case err != nil:
			http.Error(w, "limits unavailable", http.StatusServiceUnavailable)
			return
		}
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(hold)
		inFlight.Add(-1)
		usage := limit.Usage{InputTokens: est.PromptTokens, OutputTokens: est.MaxOutputTokens}
		if err := a.Finish(r.Context(), usage, true); err != nil {
			t.Error(err)
		}
		limit.SetHeaders(w.Header(), a.Requests, a.Tokens)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// burst sends n parallel POSTs and counts answers by status.
func burst(t *testing.T, url string, n int) (map[int]int, []http.Header) {
	var mu sync.Mutex
	codes := map[int]int{}
	var refusals []http.Header
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			resp, err := client.Post(url, "application/json", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests {
				refusals = append(refusals, resp.Header)
			}
		})
	}
	close(start)
	wg.Wait()
	return codes, refusals
}

func TestGateUnderParallelHTTPClients(t *testing.T) {
	tests := []struct {
		name     string
		subjects []limit.Subject
		est      limit.Estimate
		hold     time.Duration
		check    func(t *testing.T, codes map[int]int, refusals []http.Header, peak int64, b *memory.Budget)
	}{
		{
			name:     "200 requests on a budget covering 50",
			subjects: []limit.Subject{{ID: "key:k", Budgeted: true, BudgetMicros: 50_000_000, BudgetPeriod: limit.PeriodMonthly}, {ID: "tenant:t"}},
			est:      oneDollar,
			check: func(t *testing.T, codes map[int]int, _ []http.Header, _ int64, b *memory.Budget) {
				u, _ := b.Usage(context.Background(), limit.BudgetScope{ID: "key:k", LimitMicros: 50_000_000, Period: limit.PeriodMonthly})
				if codes[200] != 50 || u.SpentMicros > 50_000_000 || u.ReservedMicros != 0 {
					t.Fatalf("codes %v, usage %+v; want exactly 50 successes and spend ≤ $50", codes, u)
				}
			},
		},
		{
			name:     "a limit of 20 per minute admits exactly 20 of 200",
			subjects: []limit.Subject{{ID: "key:k", RPM: 20}, {ID: "tenant:t", RPM: 1000}},
			est:      oneDollar,
			check: func(t *testing.T, codes map[int]int, refusals []http.Header, _ int64, _ *memory.Budget) {
				if codes[200] != 20 || codes[429] != 180 {
					t.Fatalf("codes %v; want 20 × 200 and 180 × 429", codes)
				}
				h := refusals[0]
				if h.Get("Retry-After") == "" || h.Get("X-Ratelimit-Limit-Requests") != "20" || h.Get("X-Ratelimit-Remaining-Requests") != "0" {
					t.Fatalf("429 headers %v", h)
				}
			},
		},
		{
			name:     "tokens per minute admit exactly what fits",
			subjects: []limit.Subject{{ID: "key:k", TPM: 20_000}},
			est:      oneDollar, // 2000 tokens each
			check: func(t *testing.T, codes map[int]int, refusals []http.Header, _ int64, _ *memory.Budget) {
				if codes[200] != 10 || refusals[0].Get("X-Ratelimit-Limit-Tokens") != "20000" {
					t.Fatalf("codes %v, headers %v; want 10 successes", codes, refusals[0])
				}
			},
		},
		{
			name:     "max parallel is never exceeded",
			subjects: []limit.Subject{{ID: "key:k", MaxParallel: 4}},
			est:      oneDollar,
			hold:     5 * time.Millisecond,
			check: func(t *testing.T, codes map[int]int, _ []http.Header, peak int64, _ *memory.Budget) {
				if peak > 4 || codes[200] < 4 {
					t.Fatalf("peak %d in flight, codes %v; want ≤ 4 and some served", peak, codes)
				}
			},
		},
		{
			name:     "a budgeted key cannot use a model without a price",
			subjects: []limit.Subject{{ID: "key:k", Budgeted: true, BudgetMicros: 1 << 40}},
			est:      limit.Estimate{PromptTokens: 10, MaxOutputTokens: 10},
			check: func(t *testing.T, codes map[int]int, _ []http.Header, _ int64, _ *memory.Budget) {
				if codes[400] != 200 {
					t.Fatalf("codes %v; want every request refused with 400", codes)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, b := newGate()
			var peak atomic.Int64
			srv := gateServer(t, g, tt.subjects, tt.est, tt.hold, &peak)
			codes, refusals := burst(t, srv.URL, 200)
			tt.check(t, codes, refusals, peak.Load(), b)
		})
	}
}

func TestGateRefusalConsumesNothing(t *testing.T) {
	ctx := context.Background()
	g, b := newGate()
	broke := []limit.Subject{{ID: "key:k", RPM: 1, TPM: 2000, MaxParallel: 1, Budgeted: true, BudgetMicros: 0}}
	for range 3 {
		_, err := g.Admit(ctx, broke, oneDollar)
		var d *limit.Denied
		if !errors.As(err, &d) || d.Reason != limit.ReasonBudget || !errors.Is(err, limit.ErrBudgetExceeded) || d.Subject != "key:k" {
			t.Fatalf("err = %v; want a budget refusal every time (RPM, TPM and slot given back)", err)
		}
	}
	// Abort gives back tokens, budget and the slot but keeps the request count.
	ok := []limit.Subject{{ID: "key:j", RPM: 2, TPM: 2000, MaxParallel: 1, Budgeted: true, BudgetMicros: 1_000_000}}
	a, err := g.Admit(ctx, ok, oneDollar)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	a, err = g.Admit(ctx, ok, oneDollar)
	if err != nil {
		t.Fatalf("after Abort: %v", err)
	}
	// A disconnect after some output: settle locally counted tokens at the
	// worst-case tier, even with a cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Finish(cctx, limit.Usage{InputTokens: 1000, OutputTokens: 100}, false); err != nil {
		t.Fatal(err)
	}
	u, _ := b.Usage(ctx, limit.BudgetScope{ID: "key:j", LimitMicros: 1_000_000})
	if u.SpentMicros != 550_000 || u.ReservedMicros != 0 {
		t.Fatalf("usage %+v; want $0.55 spent, nothing held", u)
	}
	var d *limit.Denied
	if _, err := g.Admit(ctx, ok, oneDollar); !errors.As(err, &d) || d.Reason != limit.ReasonRequests {
		t.Fatalf("third request within the minute: err = %v, want RPM refusal", err)
	}
}

// TestGateInTwoSteps: AdmitRequest takes concurrency and RPM only, and its
// refusal consumes nothing; Reserve takes TPM and budget, and its refusal
// gives back the tokens and the slot but keeps the request count.
func TestGateInTwoSteps(t *testing.T) {
	ctx := context.Background()
	g, b := newGate()
	subs := []limit.Subject{{ID: "key:k", RPM: 2, TPM: 10000, MaxParallel: 1, Budgeted: true, BudgetMicros: 1_500_000}}
	a, err := g.AdmitRequest(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	var d *limit.Denied
	if _, err := g.AdmitRequest(ctx, subs); !errors.As(err, &d) || d.Reason != limit.ReasonConcurrency {
		t.Fatalf("second in flight: err = %v, want a concurrency refusal", err)
	}
	if err := a.Reserve(ctx, subs, oneDollar); err != nil {
		t.Fatal(err)
	}
	if u, _ := b.Usage(ctx, limit.BudgetScope{ID: "key:k", LimitMicros: 1_500_000}); u.ReservedMicros != 1_000_000 {
		t.Fatalf("usage %+v; want $1 held", u)
	}
	if err := a.FinishCost(ctx, 2000, 1_000_000); err != nil {
		t.Fatal(err)
	}
	// The second request passes the request step (RPM 2) and is refused
	// by the budget ($0.50 left): tokens and slot back, request counted.
	if a, err = g.AdmitRequest(ctx, subs); err != nil {
		t.Fatalf("after Finish: %v", err)
	}
	if err := a.Reserve(ctx, subs, oneDollar); !errors.As(err, &d) || d.Reason != limit.ReasonBudget {
		t.Fatalf("err = %v, want a budget refusal", err)
	}
	if err := a.Abort(ctx); err != nil { // a no-op after a refusal
		t.Fatal(err)
	}
	if _, err := g.AdmitRequest(ctx, subs); !errors.As(err, &d) || d.Reason != limit.ReasonRequests {
		t.Fatalf("third request within the minute: err = %v, want an RPM refusal (slot freed, count kept)", err)
	}
	if u, _ := b.Usage(ctx, limit.BudgetScope{ID: "key:k", LimitMicros: 1_500_000}); u.SpentMicros != 1_000_000 || u.ReservedMicros != 0 {
		t.Fatalf("usage %+v; want $1 spent, nothing held", u)
	}
}
