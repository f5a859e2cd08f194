package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// Log is the hash-chained audit log over a store. Each entry's MAC is
// HMAC-SHA256(key, previous MAC ‖ canonical entry), so editing, deleting,
// inserting or reordering entries breaks verification, and without the key
// (kept in the barrier) nobody can recompute the chain. Safe for
// concurrent use; appends from several processes serialise in the store.
type Log struct {
	st  store.Store
	key []byte
	now func() time.Time

	// Group commit (see Append): the entries waiting for a commit, and
	// whether a committer is running.
	mu         sync.Mutex
	queue      []*pending
	committing bool
}

// pending is one Append waiting for the commit that carries its entry.
type pending struct {
	fn   store.AuditFunc
	done chan error // buffered: the committer never blocks on a caller
}

// maxBatch bounds the entries one transaction carries, so a backlog is
// committed in pieces of bounded size and time.
const maxBatch = 256

var _ Appender = (*Log)(nil)

// New returns a Log over st whose MACs use key (32 bytes from the barrier).
func New(st store.Store, key []byte) (*Log, error) {
	if len(key) < 32 {
		return nil, errors.New("audit: MAC key must be at least 32 bytes")
	}
	return &Log{st: st, key: key, now: time.Now}, nil
}

// Append durably appends e: it returns nil only once the transaction that
// carries e has committed with a full sync, so the entry is on disk before
// the caller acknowledges anything.
//
// Appends that arrive while a commit is in flight share the next one
// (group commit): a synced commit costs hundreds of microseconds of CPU
// and a disk flush whatever it carries, and appends serialise on the
// chain, so one commit per entry would cap audited requests at one flush
// each. An Append that finds no commit running commits the queue itself
// (alone, when nothing else is waiting — as before), and hands any backlog
// that built up meanwhile to a new goroutine rather than serving it on
// its caller's time. If the commit fails, every entry it carried fails.
// An Append whose ctx ends while it waits returns ctx's error; its entry
// may still be committed (the log never misses an acknowledged action; it
// may hold one that was not acknowledged).
func (l *Log) Append(ctx context.Context, e Event) error {
	p := &pending{fn: l.Func(e), done: make(chan error, 1)}
	l.mu.Lock()
	l.queue = append(l.queue, p)
	lead := !l.committing
	l.committing = true
	l.mu.Unlock()
	var err error
	if lead {
		l.commitNext(ctx) // its first batch always holds p
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

// errCommitPanicked is what the entries of a commit that panicked get.
var errCommitPanicked = errors.New("the commit panicked")

// commitNext commits up to maxBatch queued entries in one transaction and
// reports the outcome to each. If more are queued by then, a new
// goroutine commits them; otherwise the log is left idle for the next
// Append to lead. ctx's values reach the store, its cancellation does not:
// the entries of other callers ride on this commit.
func (l *Log) commitNext(ctx context.Context) {
	l.mu.Lock()
	n := min(len(l.queue), maxBatch)
	batch := l.queue[:n:n]
	l.queue = l.queue[n:]
	l.mu.Unlock()
	err := errCommitPanicked
	// Deferred, so that a panicking store still answers every caller and
	// leaves the log able to commit: a stuck committing flag would hang
	// every later Append.
	defer func() {
		for _, p := range batch {
			p.done <- err
		}
		l.mu.Lock()
		more := len(l.queue) > 0
		if !more {
			l.committing = false
			l.queue = nil // drop the backing array a burst grew
		}
		l.mu.Unlock()
		if more {
			go l.commitNext(context.WithoutCancel(ctx))
		}
	}()
	fns := make([]store.AuditFunc, n)
	for i, p := range batch {
		fns[i] = p.fn
	}
	_, err = l.st.AppendAudit(context.WithoutCancel(ctx), fns...)
}

// Func returns a store.AuditFunc that chains e after the previous row; pass
// it to store operations that must commit their change and its audit entry
// together.
func (l *Log) Func(e Event) store.AuditFunc {
	return func(prev *store.AuditRow) (store.AuditRow, error) {
		row := store.AuditRow{
			Seq: 1, Time: l.now().UTC().Truncate(time.Millisecond), Tenant: e.Tenant, Actor: e.Actor,
			Action: e.Action, Target: e.Target, Outcome: e.Outcome, RequestID: e.RequestID,
			Details: canonicalDetails(e.Details),
		}
		if row.Outcome == "" {
			row.Outcome = OutcomeSuccess
		}
		prevMAC := ""
		if prev != nil {
			row.Seq, prevMAC = prev.Seq+1, prev.MAC
		}
		row.MAC = l.mac(prevMAC, &row)
		return row, nil
	}
}

func canonicalDetails(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d) // map keys are sorted by encoding/json
	return string(b)
}

// mac computes the chained MAC of row after prevMAC.
func (l *Log) mac(prevMAC string, r *store.AuditRow) string {
	m := hmac.New(sha256.New, l.key)
	fields := []string{prevMAC, strconv.FormatInt(r.Seq, 10), strconv.FormatInt(r.Time.UnixMilli(), 10),
		r.Tenant, r.Actor, r.Action, r.Target, r.Outcome, r.RequestID, r.Details}
	for _, f := range fields {
		// Length-prefix every field so ("ab","c") and ("a","bc") differ.
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (l *Log) anchorMAC(a store.AuditAnchor) string {
	m := hmac.New(sha256.New, l.key)
	_, _ = fmt.Fprintf(m, "anchor:%d:%s", a.Seq, a.PrevMAC) // hash writes never fail
	return hex.EncodeToString(m.Sum(nil))
}

// Head identifies the newest entry: keep it elsewhere to detect a cut-off
// tail later.
type Head struct {
	Seq int64
	MAC string
}

// String formats the head as "seq:mac".
func (h Head) String() string { return strconv.FormatInt(h.Seq, 10) + ":" + h.MAC }

// ParseHead parses "seq:mac".
func ParseHead(s string) (Head, error) {
	seq, mac, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(mac) != 64 {
		return Head{}, fmt.Errorf("audit: head %q is not <seq>:<64 hex digits>", s)
	}
	if _, err := hex.DecodeString(mac); err != nil {
		return Head{}, fmt.Errorf("audit: head %q is not <seq>:<64 hex digits>", s)
	}
	return Head{Seq: n, MAC: strings.ToLower(mac)}, nil
}

// Head returns the newest entry's head; Seq 0 on an empty chain.
func (l *Log) Head(ctx context.Context) (Head, error) {
	r, err := l.st.AuditHead(ctx)
	if err != nil || r == nil {
		return Head{}, err
	}
	return Head{Seq: r.Seq, MAC: r.MAC}, nil
}
