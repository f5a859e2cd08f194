package audit

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
}

func (g *gatedStore) AppendAudit(ctx context.Context, fns ...store.AuditFunc) (*store.AuditRow, error) {
	g.mu.Lock()
	call := len(g.batches)
	g.batches = append(g.batches, len(fns))
	hold, entered := g.hold, g.entered
	g.hold = nil
	g.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if g.panics != nil && g.panics(call) {
		panic("store bug")
	}
	if g.fail != nil {
		if err := g.fail(call); err != nil {
			return nil, err
		}
	}
	return g.Store.AppendAudit(ctx, fns...)
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

// Appends that arrive while a commit is in flight share the next one: one
// synced transaction for all of them, not one each. The chain they make
// verifies.
func TestAppendsShareACommit(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	started, release := g.holdNext()
	first := appendAll(ctx, l, 0, 1)
	started()
	rest := appendAll(ctx, l, 1, 20)
	waitQueued(t, l, 20)
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
	started, release := g.holdNext()
	first := appendAll(ctx, l, 0, 1)
	started()
	n := maxBatch + 40
	rest := appendAll(ctx, l, 1, n)
	waitQueued(t, l, n)
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

// A failed commit fails every entry it carried — none is acknowledged
// without being on disk — and the log commits again afterwards.
func TestFailedCommitFailsItsEntries(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.fail = func(call int) error {
		if call == 1 {
			return errors.New("disk full")
		}
		return nil
	}
	started, release := g.holdNext()
	first := appendAll(ctx, l, 0, 1)
	started()
	rest := appendAll(ctx, l, 1, 5)
	waitQueued(t, l, 5)
	release()
	if err := first()[0]; err != nil {
		t.Fatalf("the first commit failed: %v", err)
	}
	for _, err := range rest() {
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("an entry of the failed commit returned %v", err)
		}
	}
	if err := l.Append(ctx, event(9)); err != nil {
		t.Fatalf("append after a failed commit: %v", err)
	}
	if rep, err := l.Verify(ctx, nil); err != nil || rep.Entries != 2 {
		t.Fatalf("Verify = %+v, %v; want the 2 acknowledged entries", rep, err)
	}
}

// A store that panics mid-commit answers the entries waiting on that
// commit and leaves the log usable: a committer that never finished would
// otherwise hang every later append.
func TestPanickingCommitLeavesLogUsable(t *testing.T) {
	ctx := context.Background()
	l, g := newGated(t)
	g.panics = func(call int) bool { return call == 0 }
	started, release := g.holdNext()
	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		_ = l.Append(ctx, event(0))
	}()
	started()
	rest := appendAll(ctx, l, 1, 3)
	waitQueued(t, l, 3)
	release()
	if r := <-leader; r == nil {
		t.Fatal("the leader's Append did not panic")
	}
	for _, err := range rest() {
		if err != nil {
			t.Fatalf("an entry queued behind the panic: %v", err)
		}
	}
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
}

// An append whose caller gives up returns at once with the context's
// error, whatever the commit ahead of it is doing.
func TestWaitingAppendHonoursItsContext(t *testing.T) {
	l, g := newGated(t)
	started, release := g.holdNext()
	defer release()
	first := appendAll(context.Background(), l, 0, 1)
	started()
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
