package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// TestInsertUsageLargeBatch writes more rows than one statement carries
// and checks every one arrived with its values.
func TestInsertUsageLargeBatch(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	var rows []store.Usage
	for i := range 600 {
		rows = append(rows, store.Usage{Time: now, RequestID: fmt.Sprint("r", i), Tenant: "default", KeyID: "k",
			Model: "m", PromptTokens: 2, CompletionTokens: 1, CostMicros: 3, Status: 200, Stream: i%2 == 0})
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SummariseUsage(ctx, store.UsageFilter{KeyID: "k"})
	if err != nil || len(sum) != 1 || sum[0].Requests != 600 || sum[0].PromptTokens != 1200 || sum[0].CostMicros != 1800 {
		t.Fatalf("summary %+v %v", sum, err)
	}
}

func BenchmarkInsertUsage(b *testing.B) {
	s := openTB(b)
	defer s.Close()
	batch := make([]store.Usage, 256)
	for i := range batch {
		// Values shaped like a real request's (ids, model and provider names).
		batch[i] = store.Usage{Time: time.Now(), RequestID: fmt.Sprintf("req_01JD8Z3W4Q5R6S7T8V9W%06d", i), Tenant: "default",
			KeyID: "bk_3Xq9Lr2Tz8Wm", Model: "gpt-4o-mini", Provider: "openai", PromptTokens: 1234, CompletionTokens: 321,
			CostMicros: 4567, LatencyMS: 812, TTFBMS: 143, Status: 200, Stream: true}
	}
	// A cancellable context, as the usage writer passes: per-row costs that
	// only a cancellable context triggers must show here.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ResetTimer()
	for range b.N {
		if err := s.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
}

// Usage summaries filter by key, tenant and time (with no index on the
// table since migration 0002).
func TestUsageSummaryFilters(t *testing.T) {
	st := open(t)
	defer st.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now.Add(-time.Hour), RequestID: "a", Tenant: "t1", KeyID: "k1", Model: "m", PromptTokens: 1, Status: 200},
		{Time: now, RequestID: "b", Tenant: "t1", KeyID: "k1", Model: "m", PromptTokens: 2, Status: 500},
		{Time: now, RequestID: "c", Tenant: "t2", KeyID: "k2", Model: "m", PromptTokens: 4, Status: 200},
	}
	if err := st.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		f             store.UsageFilter
		wantRequests  int64
		wantPrompt    int64
		wantErrors    int64
		wantSummaries int
	}{
		{"all", store.UsageFilter{}, 3, 7, 1, 2},
		{"by key", store.UsageFilter{KeyID: "k1"}, 2, 3, 1, 1},
		{"by tenant", store.UsageFilter{Tenant: "t2"}, 1, 4, 0, 1},
		{"since", store.UsageFilter{KeyID: "k1", Since: now.Add(-time.Minute)}, 1, 2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := st.SummariseUsage(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var req, prompt, errs int64
			for _, s := range sum {
				req, prompt, errs = req+s.Requests, prompt+s.PromptTokens, errs+s.Errors
			}
			if len(sum) != tt.wantSummaries || req != tt.wantRequests || prompt != tt.wantPrompt || errs != tt.wantErrors {
				t.Fatalf("%+v", sum)
			}
		})
	}
}
