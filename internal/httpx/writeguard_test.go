package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// deadlineWriter records the write deadlines set on it.
type deadlineWriter struct {
	http.ResponseWriter
	mu sync.Mutex
	dl []time.Time
}

func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dl = append(d.dl, t)
	return nil
}

func (d *deadlineWriter) last() (time.Time, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.dl) == 0 {
		return time.Time{}, 0
	}
	return d.dl[len(d.dl)-1], len(d.dl)
}

// near reports whether got is within slack of want.
func near(got, want time.Time, slack time.Duration) bool {
	d := got.Sub(want)
	return d > -slack && d < slack
}

func TestWriteGuard(t *testing.T) {
	const stall = 2 * time.Second
	dw := &deadlineWriter{ResponseWriter: httptest.NewRecorder()}
	w := &StatusRecorder{ResponseWriter: dw} // found through Unwrap
	ctx, cancel := context.WithCancel(context.Background())
	var g WriteGuard
	g.Start(ctx, w, stall)
	if dl, n := dw.last(); n != 1 || !near(dl, time.Now().Add(stall), 100*time.Millisecond) {
		t.Fatalf("Start: deadline %v (%d set), want about %v from now", dl, n, stall)
	}

	g.Check() // fresh: nothing to renew
	if _, n := dw.last(); n != 1 {
		t.Fatalf("Check renewed a fresh deadline (%d set)", n)
	}
	time.Sleep(stall/4 + 2*clockTick) // past a quarter, as the coarse clock sees it
	g.Check()
	if dl, n := dw.last(); n != 2 || !near(dl, time.Now().Add(stall), 100*time.Millisecond) {
		t.Fatalf("Check past a quarter: deadline %v (%d set), want renewed to %v from now", dl, n, stall)
	}

	// The context ends: the deadline comes in to the grace, and stays.
	cancel()
	var dl time.Time
	for n := 2; n == 2; dl, n = dw.last() {
		time.Sleep(time.Millisecond)
	}
	if !near(dl, time.Now().Add(ExpireGrace), 100*time.Millisecond) {
		t.Fatalf("context ended: deadline %v, want about %v from now", dl, ExpireGrace)
	}
	time.Sleep(stall/4 + 2*clockTick)
	g.Check()
	if _, n := dw.last(); n != 3 {
		t.Fatalf("Check renewed the deadline after the context ended (%d set)", n)
	}
	// Release gives what remains of the response the full bound again.
	g.Release()
	if dl, n := dw.last(); n != 4 || !near(dl, time.Now().Add(stall), 100*time.Millisecond) {
		t.Fatalf("Release: deadline %v (%d set), want about %v from now", dl, n, stall)
	}

	// Released before its context ends, a guard never touches the
	// connection again (it may already serve the next request).
	ctx2, cancel2 := context.WithCancel(context.Background())
	g.Start(ctx2, w, stall)
	g.Release()
	_, n := dw.last()
	cancel2()
	time.Sleep(50 * time.Millisecond)
	if _, m := dw.last(); m != n {
		t.Fatalf("a released guard's context hook set a deadline (%d set, want %d)", m, n)
	}

	// A writer that takes no deadline leaves the guard inert.
	var inert WriteGuard
	inert.Start(context.Background(), httptest.NewRecorder(), stall)
	inert.Check()
	inert.Release()
	var nilGuard *WriteGuard
	nilGuard.Check()
}
