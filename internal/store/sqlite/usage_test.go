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
		batch[i] = store.Usage{Time: time.Now(), RequestID: "r", Tenant: "default", KeyID: "k", Model: "m", Status: 200}
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
