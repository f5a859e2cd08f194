package limittest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// runGate checks the Gate's bucket kinds on the implementation's stores:
// token counts (AdmitCount) have a per-minute bucket of their own, sized
// by the subject's RPM, and share its concurrency slots with calls.
func runGate(t *testing.T, factory Factory) {
	ctx := context.Background()
	gate := func(t *testing.T) *limit.Gate {
		impl, _ := setup(t, factory)
		return &limit.Gate{Rate: impl.Rate, Concurrency: impl.Concurrency, Budget: impl.Budget}
	}

	t.Run("counts and calls have separate buckets of RPM each", func(t *testing.T) {
		g := gate(t)
		const n = 7
		subs := []limit.Subject{{ID: "key:k", RPM: n}}
		var counted atomic.Int64
		parallel(10*n, func(int) {
			a, err := g.AdmitCount(ctx, subs)
			var d *limit.Denied
			switch {
			case err == nil:
				counted.Add(1)
				_ = a.Abort(ctx)
			case !errors.As(err, &d) || d.Reason != limit.ReasonCounts || d.Subject != "key:k" ||
				d.RetryAfter <= 0 || d.Requests.Limit != n:
				t.Errorf("refused count: %v (%+v); want a token-counting refusal of key:k with retry-after", err, d)
			}
		})
		if counted.Load() != n {
			t.Fatalf("admitted %d of %d counts, want exactly %d", counted.Load(), 10*n, n)
		}
		for i := range n { // the counts used none of the calls' bucket
			a, err := g.AdmitRequest(ctx, subs)
			if err != nil {
				t.Fatalf("call %d after %d counts: %v", i+1, n, err)
			}
			_ = a.Abort(ctx)
		}
		var d *limit.Denied
		if _, err := g.AdmitRequest(ctx, subs); !errors.As(err, &d) || d.Reason != limit.ReasonRequests {
			t.Fatalf("call %d: err = %v, want an RPM refusal", n+1, err)
		}
	})

	t.Run("the tenant's RPM sizes its counting bucket", func(t *testing.T) {
		g := gate(t)
		subs := []limit.Subject{{ID: "key:k", RPM: 10}, {ID: "tenant:t", RPM: 2}}
		for range 2 {
			a, err := g.AdmitCount(ctx, subs)
			if err != nil {
				t.Fatal(err)
			}
			_ = a.Abort(ctx)
		}
		var d *limit.Denied
		if _, err := g.AdmitCount(ctx, subs); !errors.As(err, &d) || d.Subject != "tenant:t" {
			t.Fatalf("third count: err = %v, want the tenant's refusal", err)
		}
	})

	t.Run("counts and calls share the slots", func(t *testing.T) {
		g := gate(t)
		subs := []limit.Subject{{ID: "key:p", RPM: 1, MaxParallel: 1}}
		call, err := g.AdmitRequest(ctx, subs)
		if err != nil {
			t.Fatal(err)
		}
		var d *limit.Denied
		if _, err := g.AdmitCount(ctx, subs); !errors.As(err, &d) || d.Reason != limit.ReasonConcurrency {
			t.Fatalf("count beside a call in flight: err = %v, want a concurrency refusal", err)
		}
		_ = call.Abort(ctx)
		// The refused count took nothing of its bucket (RPM 1).
		count, err := g.AdmitCount(ctx, subs)
		if err != nil {
			t.Fatalf("count after the call ended: %v", err)
		}
		if _, err := g.AdmitRequest(ctx, subs); !errors.As(err, &d) || d.Reason != limit.ReasonConcurrency {
			t.Fatalf("call beside a count in flight: err = %v, want a concurrency refusal", err)
		}
		_ = count.Abort(ctx)
	})
}
