package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// BenchmarkInsertUsage writes batches of 256 rows as the usage writer does.
func BenchmarkInsertUsage(b *testing.B) {
	s := openDSN(b, pgtest.Start(b))
	batch := make([]store.Usage, 256)
	for i := range batch {
		batch[i] = store.Usage{Time: time.Now(), RequestID: "r", Tenant: "default", KeyID: "k", Model: "m", Status: 200}
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := s.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
}

// BenchmarkAppendAudit is one serialised, committed audit append.
func BenchmarkAppendAudit(b *testing.B) {
	s := openDSN(b, pgtest.Start(b))
	ctx := context.Background()
	fn := func(prev *store.AuditRow) (store.AuditRow, error) {
		r := store.AuditRow{Seq: 1, Time: time.Now(), Tenant: "default", Actor: "b", Action: "x", Outcome: "success", Details: "{}", MAC: "m"}
		if prev != nil {
			r.Seq = prev.Seq + 1
		}
		return r, nil
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.AppendAudit(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
}
