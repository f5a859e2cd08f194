package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// SummariseUsage answers as the SQLite store does: the same rows in both,
// then every filter compared summary for summary.
func TestUsageSummariesMatchSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg := open(t)
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	now := time.Now().UTC()
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]store.Usage, 400)
	for i := range rows {
		rows[i] = store.Usage{Time: now.Add(-time.Duration(r.IntN(72)) * time.Hour), RequestID: fmt.Sprint("r", i),
			Tenant: fmt.Sprint("t", r.IntN(3)), KeyID: fmt.Sprint("k", r.IntN(5)), Model: []string{"a", "B", "b", "é"}[r.IntN(4)],
			Endpoint:     []string{"", "messages", "messages.count_tokens", "gemini.countTokens"}[r.IntN(4)],
			PromptTokens: r.Int64N(5000), CompletionTokens: r.Int64N(900), CostMicros: r.Int64N(1e6),
			Status: []int{200, 200, 399, 400, 429, 500}[r.IntN(6)], Stream: r.IntN(2) == 0, Estimated: r.IntN(3) == 0}
	}
	for _, s := range []store.Store{pg, lite} {
		if err := s.InsertUsage(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.UsageFilter
	}{
		{"all", store.UsageFilter{}},
		{"key", store.UsageFilter{KeyID: "k1"}},
		{"tenant", store.UsageFilter{Tenant: "t2"}},
		{"key and tenant", store.UsageFilter{KeyID: "k3", Tenant: "t0"}},
		{"since", store.UsageFilter{Since: now.Add(-24 * time.Hour)}},
		{"since exactly a row's time", store.UsageFilter{Since: rows[0].Time}},
		{"unknown key", store.UsageFilter{KeyID: "nope"}},
		{"endpoint", store.UsageFilter{Endpoint: "messages.count_tokens"}},
		{"endpoint and key", store.UsageFilter{KeyID: "k2", Endpoint: "messages"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := lite.SummariseUsage(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pg.SummariseUsage(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("postgres:\n%+v\nsqlite:\n%+v", got, want)
			}
		})
	}
}
