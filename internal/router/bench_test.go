package router

import (
	"context"
	"testing"
)

func BenchmarkCandidates(b *testing.B) {
	for _, s := range []Strategy{Fallback, Weighted, LeastInFlight, LowestLatency} {
		b.Run(string(s), func(b *testing.B) {
			r, err := New(testConfig(s, 1, 2, 3), Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			dst := make([]Deployment, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Candidates(ctx, dst[:0], "m"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExecutorDo(b *testing.B) {
	r, err := New(testConfig(Fallback, 1, 1), Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := &Executor{Router: r}
	ctx := context.Background()
	ok := func(ctx context.Context, d Deployment) error { Progress(ctx); return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Do(ctx, "m", ok, nil); err != nil {
			b.Fatal(err)
		}
	}
}
