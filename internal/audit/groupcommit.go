package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Group commit. A synced commit costs hundreds of microseconds of CPU and
// a disk flush whatever it carries, and appends serialise on the chain, so
// one commit per entry would cap audited requests at one flush each.
// Entries that arrive while a commit is in flight share the next one.

// pending is one Append waiting for the commit that carries its entry.
type pending struct {
	fn   store.AuditFunc
	done chan error // buffered: the committer never blocks on a caller
}

const (
	// maxBatch bounds the entries one transaction carries, so a backlog
	// is committed in pieces of bounded size and time.
	maxBatch = 256
	// maxQueued bounds the entries waiting for a commit. Past it, Append
	// fails at once (its caller refuses what it was auditing) instead of
	// holding memory and callers behind a store that has stopped
	// answering.
	maxQueued = 16 * maxBatch
	// commitTimeout bounds one commit, its retries included: SQLite's
	// busy timeout is 15 s, and a PostgreSQL transaction waiting on a lock
	// or a lost server has no bound of its own. The committing caller
	// waits this long at most, whatever its own context says, since its
	// commit carries others' entries.
	commitTimeout = 20 * time.Second
)

var (
	// errQueueFull is what an Append gets when maxQueued entries wait.
	errQueueFull = errors.New("too many entries are waiting for a commit")
	// errCommitPanicked is what the entries of a commit that panicked get.
	errCommitPanicked = errors.New("the commit panicked")
	// errNotRetried wraps the batch's error for the entries left untried
	// once two retries in a row failed.
	errNotRetried = errors.New("not retried alone after two entries in a row failed")
)

// Append durably appends e: it returns nil only once the transaction that
// carries e has committed with a full sync, so the entry is on disk before
// the caller acknowledges anything.
//
// An Append that finds no commit running commits the queue itself (alone,
// when nothing else is waiting) and hands a backlog that built up
// meanwhile to one goroutine, which commits until the queue is empty,
// rather than serving it on its caller's time. Commits run under their
// own timeout (commitTimeout) and no caller's context: a batch holds
// several callers' entries. A batch that failed before its commit is
// retried entry by entry, so an entry the store refuses fails only its
// own caller (see commit). An Append that is not committing returns
// ctx's error when ctx ends while it waits; its entry may still be
// committed (the log never misses an acknowledged action; it may hold
// one that was not acknowledged).
func (l *Log) Append(ctx context.Context, e Event) error {
	p := &pending{fn: l.Func(e), done: make(chan error, 1)}
	l.mu.Lock()
	if len(l.queue) >= maxQueued {
		l.mu.Unlock()
		return fmt.Errorf("audit: append %s: %w", e.Action, errQueueFull)
	}
	l.queue = append(l.queue, p)
	lead := !l.committing
	l.committing = true
	l.mu.Unlock()
	var err error
	if lead {
		if l.commitNext() { // its first batch always holds p
			go l.drain()
		}
		err = <-p.done
	} else {
		select {
		case err = <-p.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	return nil
}

// drain commits until the queue is empty.
func (l *Log) drain() {
	for l.commitNext() {
	}
}

// commitNext commits up to maxBatch queued entries and answers each. It
// reports whether more are queued; if not, the log is left idle for the
// next Append to lead.
func (l *Log) commitNext() (more bool) {
	l.mu.Lock()
	n := min(len(l.queue), maxBatch)
	batch := l.queue[:n:n]
	l.queue = l.queue[n:]
	l.mu.Unlock()
	l.commit(batch)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		l.committing = false
		l.queue = nil // drop the backing array a burst grew
		return false
	}
	return true
}

// commit appends batch in one transaction and answers every entry. When
// that fails before the commit itself (a refused row, a connection that
// could not be had), each entry is tried alone, so one entry the store
// refuses does not fail the others. Never after a failure whose outcome is
// unknown — a lost connection during COMMIT, a failed sync, a panic, a
// timeout — where the batch may be on disk and trying again could record
// its entries twice; and not past two failures in a row, so a store that
// is down is not tried once per entry. The whole, retries included, runs
// under one commitTimeout.
func (l *Log) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	fns := make([]store.AuditFunc, len(batch))
	for i, p := range batch {
		fns[i] = p.fn
	}
	err := l.appendRows(ctx, fns...)
	retry := err != nil && len(batch) > 1 && !outcomeUnknown(err)
	inARow := 0
	for _, p := range batch {
		switch {
		case !retry:
			p.done <- err
		case inARow == 2:
			p.done <- fmt.Errorf("%w: %w", errNotRetried, err)
		default:
			perr := l.appendRows(ctx, p.fn)
			if perr != nil {
				inARow++
			} else {
				inARow = 0
			}
			p.done <- perr
		}
	}
}

// outcomeUnknown reports whether a failed commit may have reached the
// disk anyway.
func outcomeUnknown(err error) bool {
	return errors.Is(err, store.ErrCommitUnknown) || errors.Is(err, errCommitPanicked) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// appendRows is one durable transaction under ctx. A panic in the store
// becomes an error for the entries it carried: the log must go on
// answering, and the callers refuse what they were auditing.
func (l *Log) appendRows(ctx context.Context, fns ...store.AuditFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errCommitPanicked, r)
		}
	}()
	_, err = l.st.AppendAudit(ctx, fns...)
	return err
}
