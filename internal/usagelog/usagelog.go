// Package usagelog writes usage records to the store in the background, in
// batches, so accounting costs the request path one channel send. It never
// drops a record silently: when the queue is full, Record waits (bounded by
// the request's context) and counts the wait; Close flushes everything
// queued.
package usagelog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Writer is a usage.Sink over a store. Safe for concurrent use.
type Writer struct {
	st    store.Store
	log   *slog.Logger
	queue chan store.Usage
	done  chan struct{}

	mu     sync.RWMutex // held shared by senders, exclusively by Close
	closed bool

	written, dropped prometheus.Counter
}

var _ usage.Sink = (*Writer)(nil)

const (
	queueSize  = 8192
	batchSize  = 512
	flushEvery = 200 * time.Millisecond
)

// New starts a writer; call Close to flush and stop it.
func New(st store.Store, log *slog.Logger, reg prometheus.Registerer) *Writer {
	w := &Writer{st: st, log: log, queue: make(chan store.Usage, queueSize), done: make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulwark_usage_rows_written_total", Help: "Usage rows written to the store."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulwark_usage_rows_dropped_total", Help: "Usage rows lost (store errors or shutdown timeout)."}),
	}
	if reg != nil {
		reg.MustRegister(w.written, w.dropped)
	}
	go w.loop()
	return w
}

// Record queues r. If the queue is full it waits for room rather than
// dropping the record; a request whose context ends first loses its row
// and the loss is counted.
func (w *Writer) Record(ctx context.Context, r usage.Record) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed { // a stream that outlived shutdown: count it, never panic
		w.dropped.Inc()
		w.log.Error("usage row after shutdown not written", "request_id", r.RequestID)
		return
	}
	row := store.Usage{Time: r.Time, RequestID: r.RequestID, Tenant: r.Tenant, KeyID: r.KeyID, Model: r.Model,
		Provider: r.Provider, Deployment: r.Deployment, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		CachedTokens: r.CachedTokens, CacheWriteTokens: r.CacheWriteTokens, ReasoningTokens: r.ReasoningTokens,
		CostMicros: r.CostMicros, LatencyMS: r.Latency.Milliseconds(), TTFBMS: r.TTFB.Milliseconds(), Status: r.Status, Stream: r.Stream}
	select {
	case w.queue <- row:
		return
	default:
	}
	select {
	case w.queue <- row:
	case <-ctx.Done():
		w.dropped.Inc()
		w.log.Error("usage row lost: queue full until the request ended", "request_id", r.RequestID)
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	batch := make([]store.Usage, 0, batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.st.InsertUsage(ctx, batch)
		cancel()
		if err != nil {
			w.dropped.Add(float64(len(batch)))
			w.log.Error("usage batch not written", "rows", len(batch), "err", err)
		} else {
			w.written.Add(float64(len(batch)))
		}
		batch = batch[:0]
	}
	for {
		select {
		case row, ok := <-w.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, row)
			if len(batch) >= batchSize {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

// Close flushes queued rows and stops the writer. A Record after Close is
// counted as dropped, never a panic.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}
