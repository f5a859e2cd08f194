// Package usagelog writes usage records to the store in the background, in
// batches, so accounting costs the request path one append under a mutex:
// the writer wakes every flush interval or when a batch is full, not once
// per request. It never drops a record silently: when the backlog is full,
// Record waits (bounded by the request's context) and a row lost that way
// is counted; Close flushes everything queued.
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
	limit int // rows held before Record waits
	every time.Duration

	mu      sync.Mutex
	pending []store.Usage
	closed  bool
	// drained is closed (and replaced) each time the writer takes the
	// pending rows, waking every Record waiting for room.
	drained chan struct{}

	kick chan struct{} // a batch is full: flush now (capacity 1)
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the last batch is written

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
	return newWriter(st, log, reg, queueSize, flushEvery)
}

func newWriter(st store.Store, log *slog.Logger, reg prometheus.Registerer, limit int, every time.Duration) *Writer {
	w := &Writer{st: st, log: log, limit: limit, every: every,
		pending: make([]store.Usage, 0, batchSize), drained: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulwark_usage_rows_written_total", Help: "Usage rows written to the store."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulwark_usage_rows_dropped_total", Help: "Usage rows lost (store errors or shutdown timeout)."}),
	}
	if reg != nil {
		reg.MustRegister(w.written, w.dropped)
	}
	go w.loop()
	return w
}

// Backlogged reports whether the backlog is full: a Record now would wait
// for the store to take a batch.
func (w *Writer) Backlogged() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) >= w.limit
}

// Record queues r. If the backlog is full it waits for room rather than
// dropping the record; a request whose context ends first loses its row
// and the loss is counted.
func (w *Writer) Record(ctx context.Context, r usage.Record) {
	row := store.Usage{Time: r.Time, RequestID: r.RequestID, Tenant: r.Tenant, KeyID: r.KeyID, Model: r.Model,
		Provider: r.Provider, Deployment: r.Deployment, Endpoint: r.Endpoint, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		CachedTokens: r.CachedTokens, CacheWriteTokens: r.CacheWriteTokens, CacheWrite1hTokens: r.CacheWrite1hTokens, ReasoningTokens: r.ReasoningTokens,
		CostMicros: r.CostMicros, LatencyMS: r.Latency.Milliseconds(), TTFBMS: r.TTFB.Milliseconds(), Status: r.Status, Stream: r.Stream,
		Estimated: r.Estimated}
	for {
		w.mu.Lock()
		if w.closed { // a stream that outlived shutdown: count it, never panic
			w.mu.Unlock()
			w.dropped.Inc()
			w.log.Error("usage row after shutdown not written", "request_id", r.RequestID)
			return
		}
		if len(w.pending) < w.limit {
			w.pending = append(w.pending, row)
			full := len(w.pending) == batchSize
			w.mu.Unlock()
			if full {
				select {
				case w.kick <- struct{}{}:
				default: // a flush is already due
				}
			}
			return
		}
		wait := w.drained
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
		select {
		case <-wait:
		case <-ctx.Done():
			w.dropped.Inc()
			w.log.Error("usage row lost: backlog full until the request ended", "request_id", r.RequestID)
			return
		}
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	spare := make([]store.Usage, 0, batchSize)
	for {
		var last bool
		select {
		case <-w.kick:
		case <-t.C:
		case <-w.stop:
			last = true
		}
		spare = w.flush(spare)
		if last {
			return
		}
	}
}

// flush takes the pending rows (leaving spare, emptied, in their place so
// the two buffers alternate without allocating) and writes them; it returns
// the buffer to reuse next time.
func (w *Writer) flush(spare []store.Usage) []store.Usage {
	w.mu.Lock()
	batch := w.pending
	w.pending = spare[:0]
	close(w.drained)
	w.drained = make(chan struct{})
	w.mu.Unlock()
	if len(batch) == 0 {
		return batch
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
	clear(batch) // drop the strings for the GC before the buffer is reused
	if cap(batch) > 4*batchSize {
		return make([]store.Usage, 0, batchSize) // a backlog grew it: give the memory back
	}
	return batch[:0]
}

// Close flushes queued rows and stops the writer. A Record after Close is
// counted as dropped, never a panic.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
}
