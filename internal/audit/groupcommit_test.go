package audit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// gatedStore is a real SQLite store whose audit commits can be held at the
// door, failed or made to panic, and which records how many entries each
// commit carried.
type gatedStore struct {
	store.Store
	mu      sync.Mutex
	batches []int
	hold    chan struct{} // non-nil: the next commit waits for it to close
	entered chan struct{} // closed when a held commit is waiting
	fail    func(call int) error
	panics  func(call int) bool
	// rejects refuses a transaction holding a row with this target, as
	// PostgreSQL refuses a row it cannot store.
	rejects string
	// after, when it returns an error, fails a transaction that has
	// committed: an outcome the caller cannot know.
	after func(call int) error
	ctxs  []context.Context
}

func (g *gatedStore) AppendAudit(ctx context.Context, fns ...store.AuditFunc) (*store.AuditRow, error) {
	g.mu.Lock()
	call := len(g.batches)
	g.batches = append(g.batches, len(fns))
	g.ctxs = append(g.ctxs, ctx)
	hold, entered := g.hold, g.entered
	g.hold = nil
	fail, panics := g.fail, g.panics
	g.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if panics != nil && panics(call) {
		panic("store bug")
	}
	if fail != nil {
		if err := fail(call); err != nil {
			return nil, err
		}
	}
	for _, fn := range fns {
		if row, _ := fn(nil); g.rejects != "" && row.Target == g.rejects {
			return nil, errors.New("invalid byte sequence")
		}
	}
	row, err := g.Store.AppendAudit(ctx, fns...)
	if err == nil && g.after != nil {
		err = g.after(call)
	}
	return row, err
}

func (g *gatedStore) set(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f()
}

func (g *gatedStore) sizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.batches...)
}

func newGated(t *testing.T) (*Log, *gatedStore) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := &gatedStore{Store: st}
	l, err := New(g, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return l, g
}

// holdNext makes the next commit wait; it returns a function that waits
// until that commit has started, and one that lets it go on.
func (g *gatedStore) holdNext() (started func(), release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hold, entered := make(chan struct{}), make(chan struct{})
	g.hold, g.entered = hold, entered
	var once sync.Once
	return func() { <-entered }, func() { once.Do(func() { close(hold) }) }
}

func (l *Log) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

func waitQueued(t *testing.T, l *Log, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", l.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func event(i int) Event {
	return Event{Tenant: "default", Actor: "k", Action: "guard.request", Target: strings.Repeat("t", i%7)}
}

// appendAll starts n appends and returns their errors once all returned.
func appendAll(ctx context.Context, l *Log, from, n int) func() []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Append(ctx, event(from+i))
		}()
	}
	return func() []error { wg.Wait(); return errs }
}

// queueBehind holds the next commit, starts one append that leads it,
// and queues n more (from event number 1) behind it. release lets the
// held commit go on; first and rest wait for the appends' errors.
func queueBehind(t *testing.T, l *Log, g *gatedStore, n int) (first, rest func() []error, release func()) {
	t.Helper()
	first, release = leadHeld(l, g)
	rest = appendAll(context.Background(), l, 1, n)
	waitQueued(t, l, n)
	return first, rest, release
}

// leadHeld starts one append whose commit waits at the door until
// release, and returns once that commit has started: appends made now
// queue behind it.
func leadHeld(l *Log, g *gatedStore) (first func() []error, release func()) {
	started, release := g.holdNext()
	first = appendAll(context.Background(), l, 0, 1)
	started()
	return first, release
}

// failFrom makes every transaction from the call-th on fail with msg.
func failFrom(call int, msg string) func(int) error {
	return func(c int) error {
		if c >= call {
			return errors.New(msg)
		}
		return nil
	}
}

// Appends that arrive while a commit is in flight share the next one: one
// synced transaction for all of them, not one each. The chain they make
// verifies.
func TestAppendsShareACommit(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	first, rest, release := queueBehind(t, l, g, 20)
	release()
	for _, err := range append(first(), rest()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := g.sizes(); len(got) != 2 || got[0] != 1 || got[1] != 20 {
		t.Fatalf("commits carried %v entries, want [1 20]", got)
	}
	rep, err := l.Verify(ctx, nil)
	if err != nil || rep.Entries != 21 {
		t.Fatalf("Verify = %+v, %v; want 21 chained entries", rep, err)
	}
}

// A backlog larger than one transaction may carry is committed in pieces
// of at most maxBatch, every entry once.
func TestBacklogIsCommittedInBoundedPieces(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	n := maxBatch + 40
	first, rest, release := queueBehind(t, l, g, n)
	release()
	for _, err := range append(first(), rest()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, s := range g.sizes() {
		if s > maxBatch {
			t.Fatalf("a commit carried %d entries, more than %d", s, maxBatch)
		}
		total += s
	}
	if rep, err := l.Verify(ctx, nil); err != nil || total != n+1 || rep.Entries != int64(n+1) {
		t.Fatalf("committed %d entries, Verify = %+v, %v; want %d", total, rep, err, n+1)
	}
}

// A store that keeps failing fails every entry it was given — none is
// acknowledged without being on disk — and the log commits again once
// the store recovers.
func TestFailedCommitFailsItsEntries(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.fail = failFrom(1, "disk full")
	first, rest, release := queueBehind(t, l, g, 5)
	release()
	if err := first()[0]; err != nil {
		t.Fatalf("the first commit failed: %v", err)
	}
	for _, err := range rest() {
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("an entry of the failed commit returned %v", err)
		}
	}
	g.set(func() { g.fail = nil })
	if err := l.Append(ctx, event(9)); err != nil {
		t.Fatalf("append after a failed commit: %v", err)
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 2 {
		t.Fatalf("Verify = %+v, %v; want the 2 acknowledged entries", rep, err)
	}
}

// A store that panics mid-commit answers every entry that commit carried
// with an error, and the log commits again afterwards: a committer that
// never finished would otherwise hang every later append, and a panic in
// the background committer would end the process.
func TestPanickingCommitAnswersItsEntries(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.panics = func(call int) bool { return call >= 1 }
	first, rest, release := queueBehind(t, l, g, 4)
	release()
	if err := first()[0]; err != nil {
		t.Fatalf("the commit before the panic: %v", err)
	}
	for _, err := range rest() {
		if !errors.Is(err, errCommitPanicked) {
			t.Fatalf("an entry of the panicked commit returned %v, want errCommitPanicked", err)
		}
	}
	g.set(func() { g.panics = nil })
	done := make(chan error, 1)
	go func() { done <- l.Append(ctx, event(5)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Append hangs after a panicked commit")
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 2 {
		t.Fatalf("Verify = %+v, %v; want the 2 acknowledged entries", rep, err)
	}
}

// An entry the store refuses fails its own caller only: the entries that
// shared its commit are committed without it.
func TestRefusedEntryFailsOnlyItsCaller(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.rejects = "poison"
	first, release := leadHeld(l, g)
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := event(i + 1)
			if i == 2 {
				e.Target = "poison"
			}
			errs[i] = l.Append(ctx, e)
		}()
	}
	waitQueued(t, l, 5)
	release()
	wg.Wait()
	if err := first()[0]; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if (i == 2) != (err != nil) {
			t.Fatalf("entry %d returned %v; only the refused entry may fail", i, err)
		}
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 5 {
		t.Fatalf("Verify = %+v, %v; want 5 chained entries", rep, err)
	}
}

// A store that fails every transaction is not tried once per entry of a
// failed batch: after two failures in a row the rest get the batch's
// error.
func TestFailingStoreIsNotTriedPerEntry(t *testing.T) {
	l, g := newGated(t)
	g.fail = failFrom(1, "connection refused")
	first, rest, release := queueBehind(t, l, g, 10)
	release()
	_ = first()
	untried := 0
	for _, err := range rest() {
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("an entry returned %v, want the store's error", err)
		}
		if errors.Is(err, errNotRetried) {
			untried++
		}
	}
	if untried != 8 {
		t.Fatalf("%d entries say they were not retried, want 8 (all but the two tried alone)", untried)
	}
	if got := g.sizes(); len(got) != 4 || got[1] != 10 || got[2] != 1 || got[3] != 1 {
		t.Fatalf("transactions carried %v entries, want [1 10 1 1]: the batch, then two alone", got)
	}
}

// A batch whose failure may have reached the disk — a commit that timed
// out, or whose outcome the store cannot know — is not tried again entry
// by entry: that could record its entries twice.
func TestUnknownOutcomeIsNotRetried(t *testing.T) {
	for _, c := range []struct {
		name   string
		commit bool // the transaction committed before the error
		err    error
	}{
		{"timeout", false, context.DeadlineExceeded},
		{"commit outcome unknown", true, fmt.Errorf("%w: unexpected EOF", store.ErrCommitUnknown)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			l, g := newGated(t)
			fail := func(call int) error {
				if call >= 1 {
					return c.err
				}
				return nil
			}
			if c.commit {
				g.after = fail
			} else {
				g.fail = fail
			}
			first, rest, release := queueBehind(t, l, g, 6)
			release()
			_ = first()
			for _, err := range rest() {
				if !errors.Is(err, c.err) {
					t.Fatalf("an entry returned %v, want %v", err, c.err)
				}
			}
			if got := g.sizes(); len(got) != 2 || got[1] != 6 {
				t.Fatalf("transactions carried %v entries, want [1 6]: no retry", got)
			}
			want := int64(1)
			if c.commit {
				want = 7 // on disk though unacknowledged, each once
			}
			if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != want {
				t.Fatalf("Verify = %+v, %v; want %d entries", rep, err, want)
			}
		})
	}
}

// Entries retried alone after a refused one keep the order they were
// queued in.
func TestRetriesKeepQueueOrder(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.rejects = "poison"
	first, release := leadHeld(l, g)
	targets := []string{"a", "b", "poison", "c", "d", "e"}
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Append(ctx, Event{Tenant: "default", Actor: "k", Action: "guard.request", Target: target})
		}()
		waitQueued(t, l, i+1) // queued one after the other
	}
	release()
	wg.Wait()
	_ = first()
	var got []string
	if err := l.st.AuditRows(ctx, 1, func(r store.AuditRow) error { got = append(got, r.Target); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a b c d e]" {
		t.Fatalf("stored targets %v, want [a b c d e]", got)
	}
}

// A commit runs under its own deadline and none of its callers' context:
// a batch holds other callers' entries, and a request's context (its
// values hold that request's state) must not be kept alive by commits.
func TestCommitsRunUnderTheirOwnDeadline(t *testing.T) {
	type key struct{}
	l, g := newGated(t)
	ctx := context.WithValue(context.Background(), key{}, "request state")
	if err := l.Append(ctx, event(0)); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	sctx := g.ctxs[0]
	g.mu.Unlock()
	deadline, ok := sctx.Deadline()
	if !ok || time.Until(deadline) > commitTimeout {
		t.Fatalf("commit deadline %v (set %v), want one within %v", deadline, ok, commitTimeout)
	}
	if sctx.Value(key{}) != nil {
		t.Fatal("the commit's context carries the caller's values")
	}
}

// Past maxQueued waiting entries an Append fails at once rather than
// queueing behind a store that has stopped answering.
func TestQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	first, rest, release := queueBehind(t, l, g, maxQueued)
	err := l.Append(ctx, event(0))
	if !errors.Is(err, errQueueFull) {
		t.Fatalf("Append with %d queued = %v, want errQueueFull", maxQueued, err)
	}
	release()
	for _, err := range append(first(), rest()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Fields can hold what a caller sent — a NUL byte, a path cut inside a
// character — and are stored as valid UTF-8 without NUL (PostgreSQL's
// text refuses both), chained and verifiable as stored.
func TestUnstorableBytesAreReplaced(t *testing.T) {
	ctx := context.Background()
	l, _ := newGated(t)
	e := Event{Tenant: "default", Actor: "client:1.2.3.4", Action: "auth.failure", Target: "/v1/\x00a\xe2\x82"}
	if err := l.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := l.st.AuditRows(ctx, 0, func(r store.AuditRow) error { got = r.Target; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != "/v1/\uFFFDa\uFFFD" {
		t.Fatalf("stored target %q, want %q", got, "/v1/\uFFFDa\uFFFD")
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 1 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// An append whose caller gives up returns at once with the context's
// error, whatever the commit ahead of it is doing.
func TestWaitingAppendHonoursItsContext(t *testing.T) {
	l, g := newGated(t)
	first, release := leadHeld(l, g)
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Append(ctx, event(1)) }()
	waitQueued(t, l, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Append = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled Append waits for the commit ahead of it")
	}
	release()
	if err := first()[0]; err != nil {
		t.Fatal(err)
	}
}

// FuzzStorable: whatever a caller puts in a field, what is stored is valid
// UTF-8 without NUL, and a field that already was is stored unchanged.
func FuzzStorable(f *testing.F) {
	for _, s := range []string{"", "/v1/models", "/v1/\x00", "/v1/\xe2\x82", "\xff\xfe\x00a", "é😀\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := storable(s)
		if !utf8.ValidString(out) || strings.Contains(out, "\x00") {
			t.Fatalf("storable(%q) = %q: not storable", s, out)
		}
		if utf8.ValidString(s) && !strings.Contains(s, "\x00") && out != s {
			t.Fatalf("storable(%q) = %q: changed a storable field", s, out)
		}
	})
}
