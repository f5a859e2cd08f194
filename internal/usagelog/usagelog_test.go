package usagelog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func rec(i int) usage.Record {
	return usage.Record{Time: time.Now(), RequestID: fmt.Sprint("req-", i), Tenant: "default", KeyID: "k1",
		Model: "openai/gpt-4o-mini", Endpoint: usage.EndpointChatCompletions, Tokens: usage.Tokens{PromptTokens: 3, CompletionTokens: 2}, CostMicros: 7, Status: 200}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func requests(t *testing.T, st store.Store) int64 {
	t.Helper()
	sum, err := st.SummariseUsage(context.Background(), store.UsageFilter{KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range sum {
		n += s.Requests
	}
	return n
}

// Every row recorded by concurrent requests reaches the store, with its
// values, by the time Close returns.
func TestConcurrentRecordsAllWritten(t *testing.T) {
	st := openStore(t)
	w := newWriter(st, quiet, nil, 100, time.Hour) // small backlog: Records must wait for room
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 250 {
				w.Record(context.Background(), rec(g*1000+i))
			}
		})
	}
	wg.Wait()
	w.Close()
	if n := requests(t, st); n != 2000 {
		t.Fatalf("%d rows written, want 2000", n)
	}
	sum, _ := st.SummariseUsage(context.Background(), store.UsageFilter{KeyID: "k1"})
	if len(sum) != 1 || sum[0].PromptTokens != 6000 || sum[0].CostMicros != 14000 || sum[0].Endpoint != usage.EndpointChatCompletions {
		t.Fatalf("summary %+v", sum[0])
	}
	if got := value(w.written); got != 2000 {
		t.Fatalf("written counter %v", got)
	}
}

// A full batch is written at once, without waiting for the flush interval.
func TestFullBatchFlushesEarly(t *testing.T) {
	st := openStore(t)
	w := newWriter(st, quiet, nil, queueSize, time.Hour)
	defer w.Close()
	for i := range batchSize {
		w.Record(context.Background(), rec(i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for requests(t, st) != batchSize {
		if time.Now().After(deadline) {
			t.Fatalf("a full batch was not written within 5 s (flush interval 1 h)")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The ticker writes a partial batch.
func TestPartialBatchFlushedByTicker(t *testing.T) {
	st := openStore(t)
	w := newWriter(st, quiet, nil, queueSize, 20*time.Millisecond)
	defer w.Close()
	w.Record(context.Background(), rec(1))
	deadline := time.Now().Add(5 * time.Second)
	for requests(t, st) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("one row was not written by the ticker")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingStore holds InsertUsage until released, to fill the backlog.
type blockingStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
	fail    error
}

func (b *blockingStore) InsertUsage(ctx context.Context, rows []store.Usage) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	if b.fail != nil {
		return b.fail
	}
	return b.Store.InsertUsage(ctx, rows)
}

// With the store stuck and the backlog full, Record waits; a request that
// ends first loses its row, counted — never silently.
func TestBacklogFullWaitsThenCountsLoss(t *testing.T) {
	bs := &blockingStore{Store: openStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := newWriter(bs, quiet, nil, 4, time.Hour)
	for i := range 5 {
		// The 5th finds the backlog full and kicks a flush, which takes
		// the 4 rows and then sticks in the store; the 5th then fits.
		w.Record(context.Background(), rec(i))
	}
	<-bs.entered
	if w.Backlogged() {
		t.Fatal("Backlogged with 1 of 4 rows pending")
	}
	for i := range 3 {
		w.Record(context.Background(), rec(10+i)) // backlog full again (4 rows)
	}
	if !w.Backlogged() {
		t.Fatal("not Backlogged with the backlog full: a Record now waits") // the gateway flushes a held stream end first
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	w.Record(ctx, rec(99))
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("Record returned before its context ended although the backlog was full")
	}
	if got := value(w.dropped); got != 1 {
		t.Fatalf("dropped = %v, want 1", got)
	}
	close(bs.release)
	w.Close()
	if n := requests(t, bs); n != 8 {
		t.Fatalf("%d rows written, want the 8 queued", n)
	}
}

// A failed batch is counted as dropped, and the writer goes on.
func TestStoreErrorCounted(t *testing.T) {
	bs := &blockingStore{Store: openStore(t), entered: make(chan struct{}, 1), release: make(chan struct{}), fail: errors.New("disk full")}
	close(bs.release)
	w := newWriter(bs, quiet, nil, queueSize, time.Hour)
	w.Record(context.Background(), rec(1))
	w.Record(context.Background(), rec(2))
	w.Close()
	if got := value(w.dropped); got != 2 {
		t.Fatalf("dropped = %v, want 2", got)
	}
}

// A Record after Close (a stream that outlived shutdown) is counted, not a
// panic, and Close is idempotent.
func TestRecordAfterClose(t *testing.T) {
	st := openStore(t)
	w := newWriter(st, quiet, nil, queueSize, time.Hour)
	w.Record(context.Background(), rec(1))
	w.Close()
	w.Close()
	w.Record(context.Background(), rec(2))
	if got := value(w.dropped); got != 1 {
		t.Fatalf("dropped = %v, want 1", got)
	}
	if n := requests(t, st); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "u.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	w := New(st, quiet, nil)
	defer w.Close()
	r := rec(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Record(context.Background(), r)
		}
	})
}

// captureStore keeps the rows it is given.
type captureStore struct {
	store.Store
	mu   sync.Mutex
	rows []store.Usage
}

func (c *captureStore) InsertUsage(_ context.Context, rows []store.Usage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows = append(c.rows, rows...)
	return nil
}

// A record becomes its row field for field, whether its tokens were
// estimated and its one-hour cache writes included.
func TestRecordBecomesRow(t *testing.T) {
	st := &captureStore{}
	w := newWriter(st, quiet, nil, queueSize, time.Hour)
	at := time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	r := usage.Record{Time: at, RequestID: "req-1", KeyID: "k1", Tenant: "t1", Model: "fast", Provider: "openai", Deployment: "gpt-4o-mini",
		Tokens:    usage.Tokens{PromptTokens: 11, CompletionTokens: 7, CachedTokens: 3, CacheWriteTokens: 2, CacheWrite1hTokens: 1, ReasoningTokens: 1},
		Estimated: true, CostMicros: 99, Latency: 1500 * time.Millisecond, TTFB: 250 * time.Millisecond, Status: 502, Stream: true}
	w.Record(context.Background(), r)
	r.RequestID, r.Estimated = "req-2", false
	w.Record(context.Background(), r)
	w.Close()
	want := store.Usage{Time: at, RequestID: "req-1", Tenant: "t1", KeyID: "k1", Model: "fast", Provider: "openai", Deployment: "gpt-4o-mini",
		PromptTokens: 11, CompletionTokens: 7, CachedTokens: 3, CacheWriteTokens: 2, CacheWrite1hTokens: 1, ReasoningTokens: 1, CostMicros: 99,
		LatencyMS: 1500, TTFBMS: 250, Status: 502, Stream: true, Estimated: true}
	if len(st.rows) != 2 || st.rows[0] != want {
		t.Fatalf("rows %+v, want first %+v", st.rows, want)
	}
	if st.rows[1].Estimated {
		t.Errorf("a record with upstream usage was stored as estimated: %+v", st.rows[1])
	}
}
