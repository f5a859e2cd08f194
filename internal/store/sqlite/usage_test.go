package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
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
			KeyID: "bk_3Xq9Lr2Tz8Wm", Model: "gpt-4o-mini", Provider: "openai", Endpoint: "chat.completions", PromptTokens: 1234, CompletionTokens: 321,
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

// Usage summaries filter by key, tenant, endpoint and time (with no index
// on the table since migration 0002).
func TestUsageSummaryFilters(t *testing.T) {
	st := open(t)
	defer st.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	rows := []store.Usage{
		{Time: now.Add(-time.Hour), RequestID: "a", Tenant: "t1", KeyID: "k1", Model: "m", Endpoint: "messages", PromptTokens: 1, Status: 200},
		{Time: now, RequestID: "b", Tenant: "t1", KeyID: "k1", Model: "m", Endpoint: "messages", PromptTokens: 2, Status: 500},
		{Time: now, RequestID: "c", Tenant: "t2", KeyID: "k2", Model: "m", Endpoint: "embeddings", PromptTokens: 4, Status: 200},
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
		{"by endpoint", store.UsageFilter{Endpoint: "embeddings"}, 1, 4, 0, 1},
		{"by endpoint and since", store.UsageFilter{Endpoint: "messages", Since: now.Add(-time.Minute)}, 1, 2, 1, 1},
		{"by an endpoint with no rows", store.UsageFilter{Endpoint: "gemini.countTokens"}, 0, 0, 0, 0},
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

// openWithPath opens a store at a fresh path and also returns the path, for
// tests that look at the file through a second handle.
func openWithPath(t *testing.T, name string) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// rawDB opens a second, independent handle on the store's file.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func countUsage(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM usage").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Usage rows are bound from one reused buffer: every value must arrive as
// written — empty strings as empty text (not NULL), bytes after a NUL, text longer
// than the buffer's first size, int64 extremes — and no row may see
// another's text, in the statements that write sixteen rows at once as in
// the single-row one (35 rows: two full groups, then three alone).
func TestInsertUsageKeepsEveryValue(t *testing.T) {
	s, path := openWithPath(t, "v.db")
	ts := time.UnixMilli(1_790_000_000_123)
	long := strings.Repeat("x", 3000)
	kinds := []store.Usage{
		{Time: ts, RequestID: long, Tenant: "", KeyID: "", Model: "", Provider: "", Deployment: "", Endpoint: "", Status: 200},
		{Time: ts, RequestID: "r2", Tenant: "ténant-模型", KeyID: "k\x00nul", Model: "claude-sonnet-4-5", Provider: "anthropic",
			Deployment: "d", Endpoint: "messages.count_tokens", PromptTokens: math.MaxInt64, CompletionTokens: -1, CachedTokens: 3, CacheWriteTokens: 4,
			CacheWrite1hTokens: 6, ReasoningTokens: 5, CostMicros: math.MinInt64, LatencyMS: 7, TTFBMS: 8, Status: 499, Stream: true},
		{Time: ts, RequestID: "r3", Tenant: "t", KeyID: "k", Model: "m", Provider: "p", Deployment: "", Endpoint: long, CacheWrite1hTokens: math.MaxInt64,
			Status: 502, Estimated: true},
	}
	var rows []store.Usage
	for i := range 35 {
		u := kinds[i%len(kinds)]
		u.RequestID += fmt.Sprint("#", i)
		u.LatencyMS = int64(i)
		rows = append(rows, u)
	}
	if err := s.InsertUsage(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	q, err := rawDB(t, path).Query(`SELECT ts, request_id, tenant, key_id, model, provider, deployment, prompt_tokens,
		completion_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms,
		status, stream, estimated, endpoint, typeof(tenant), typeof(deployment), typeof(endpoint) FROM usage ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var got []store.Usage
	for q.Next() {
		var u store.Usage
		var ms int64
		var tenantType, depType, endpointType string
		if err := q.Scan(&ms, &u.RequestID, &u.Tenant, &u.KeyID, &u.Model, &u.Provider, &u.Deployment, &u.PromptTokens,
			&u.CompletionTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &u.ReasoningTokens, &u.CostMicros,
			&u.LatencyMS, &u.TTFBMS, &u.Status, &u.Stream, &u.Estimated, &u.Endpoint, &tenantType, &depType, &endpointType); err != nil {
			t.Fatal(err)
		}
		if tenantType != "text" || depType != "text" || endpointType != "text" {
			t.Errorf("row %s: tenant is %s, deployment is %s, endpoint is %s; want text ('' is not NULL)",
				u.RequestID, tenantType, depType, endpointType)
		}
		u.Time = time.UnixMilli(ms)
		got = append(got, u)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
	for i := range rows {
		if want := rows[i]; got[i] != want {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
}

// Rows whose text together passes what one grouped statement binds, each
// well under a row's limit, are written as they were before groups: row
// by row, every one of them.
func TestInsertUsageLongTextsInAGroup(t *testing.T) {
	s, path := openWithPath(t, "g.db")
	var rows []store.Usage
	for i := range 16 {
		rows = append(rows, store.Usage{Time: time.Now(), RequestID: fmt.Sprint(i, strings.Repeat("r", 70_000)),
			Tenant: "t", KeyID: "k", Model: "m", Status: 200})
	}
	if err := s.InsertUsage(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var n, total int
	if err := db.QueryRow("SELECT count(*), sum(length(request_id)) FROM usage").Scan(&n, &total); err != nil {
		t.Fatal(err)
	}
	if want := textLenOf(rows); n != 16 || total != want {
		t.Fatalf("%d rows, %d bytes of request ids; want 16 rows, %d bytes", n, total, want)
	}
}

func textLenOf(rows []store.Usage) int {
	n := 0
	for _, u := range rows {
		n += len(u.RequestID)
	}
	return n
}

// A batch whose context ends is not written at all (the transaction rolls
// back), and the next batch is written normally.
func TestInsertUsageCancelledBatchWritesNothing(t *testing.T) {
	s, path := openWithPath(t, "c.db")
	row := store.Usage{Time: time.Now(), RequestID: "r", Tenant: "t", KeyID: "k", Model: "m", Status: 200}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.InsertUsage(ctx, []store.Usage{row, row}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled batch: %v, want context.Canceled", err)
	}
	db := rawDB(t, path)
	if n := countUsage(t, db); n != 0 {
		t.Fatalf("%d rows after a cancelled batch, want 0", n)
	}
	if err := s.InsertUsage(context.Background(), []store.Usage{row}); err != nil {
		t.Fatal(err)
	}
	if n := countUsage(t, db); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// While another connection (the CLI, another process) holds the write
// lock, a batch waits for it — the busy timeout — instead of failing.
func TestInsertUsageWaitsForAnotherWriter(t *testing.T) {
	s, path := openWithPath(t, "w.db")
	db := rawDB(t, path)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.InsertUsage(context.Background(), []store.Usage{{Time: time.Now(), RequestID: "r", Status: 200}})
	}()
	select {
	case err := <-done:
		t.Fatalf("batch finished while another connection held the write lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("batch still waiting after the lock was released")
	}
	if n := countUsage(t, db); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// The store is safe for concurrent use: batches from several goroutines
// all arrive (run with -race).
func TestInsertUsageConcurrentBatches(t *testing.T) {
	s, path := openWithPath(t, "p.db")
	const workers, batches, size = 8, 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				rows := make([]store.Usage, size)
				for i := range rows {
					rows[i] = store.Usage{Time: time.Now(), RequestID: fmt.Sprintf("w%d-b%d-%d", w, b, i), Tenant: "t", Status: 200}
				}
				errs <- s.InsertUsage(context.Background(), rows)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	var n, distinct int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT request_id) FROM usage").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != workers*batches*size || distinct != n {
		t.Fatalf("%d rows (%d distinct ids), want %d", n, distinct, workers*batches*size)
	}
}

// After Close, a batch is refused with an error (never a crash on freed
// memory), and the store does not reopen a connection.
func TestInsertUsageAfterClose(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	row := []store.Usage{{Time: time.Now(), RequestID: "r", Status: 200}}
	if err := s.InsertUsage(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertUsage(context.Background(), row); err == nil {
		t.Fatal("InsertUsage after Close succeeded")
	}
}

// A data directory whose name holds what a SQLite URI reads as syntax
// ("#" a fragment, "?" a query, "%" an escape) is still the directory every
// handle opens: the rows written are the rows read, and nothing is created
// beside it.
func TestDataDirWithURICharacters(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data#1?x=y%20z")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bulwark.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InsertUsage(context.Background(), []store.Usage{{Time: time.Now(), RequestID: "r", KeyID: "k", Model: "m", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	sum, err := s.SummariseUsage(context.Background(), store.UsageFilter{KeyID: "k"})
	if err != nil || len(sum) != 1 || sum[0].Requests != 1 {
		t.Fatalf("summary %+v %v: the usage row is not where reads look", sum, err)
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != filepath.Base(dir) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("beside the data directory: %q, want nothing", names)
	}
}
