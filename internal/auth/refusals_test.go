package auth

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

type recAudit struct {
	mu  sync.Mutex
	evs []audit.Event
	err error
}

func (a *recAudit) Append(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.evs = append(a.evs, e)
	return nil
}

func (a *recAudit) take() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	evs := a.evs
	a.evs = nil
	return evs
}

func repeats(t *testing.T, e audit.Event) int {
	t.Helper()
	v, ok := e.Details[DetailRepeats]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("repeats %q", v)
	}
	return n
}

// The first refusal of a kind per minute is audited at once; the rest are
// counted, and every count reaches the log: in the kind's next entry, or
// in a summary once its window has ended.
func TestRefusalsAggregatePerKindAndMinute(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	rec := &recAudit{}
	r := NewRefusals(rec, nil)
	r.win.now = func() time.Time { return now }
	skip := audit.Event{Tenant: "t1", Actor: "key_a", Action: "guard.skip", Target: "/v1/chat/completions", Outcome: audit.OutcomeDenied, RequestID: "r1"}
	mcp := audit.Event{Tenant: "t1", Actor: "key_a", Action: "tool.call", Outcome: audit.OutcomeDenied, Details: map[string]string{"reason": "insufficient_scope"}}
	other := skip
	other.Actor = "key_b"
	appendOK := func(e audit.Event) {
		t.Helper()
		if err := r.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	for range 50 {
		for _, e := range []audit.Event{skip, mcp, other} {
			appendOK(e)
		}
	}
	evs := rec.take()
	if len(evs) != 3 {
		t.Fatalf("150 refusals of 3 kinds in a minute wrote %d entries, want 3", len(evs))
	}
	for _, e := range evs {
		if repeats(t, e) != 0 || (e.Action == "guard.skip" && e.RequestID != "r1") {
			t.Fatalf("first entry of a kind %+v: want the refusal itself, no repeats", e)
		}
	}
	if mcp.Details[DetailRepeats] != "" {
		t.Fatal("Append changed the caller's Details")
	}

	// Within the window nothing is summarised; after it, one summary per
	// kind carries its 49 counted refusals.
	if err := r.Flush(ctx, false); err != nil || len(rec.take()) != 0 {
		t.Fatal("a summary was written while the window was still open")
	}
	now = now.Add(time.Minute)
	if err := r.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	evs = rec.take()
	if len(evs) != 3 {
		t.Fatalf("%d summaries, want 3", len(evs))
	}
	for _, e := range evs {
		if repeats(t, e) != 49 || e.Details["summary"] != "true" || e.Target != "" || e.Tenant != "t1" || e.Outcome != audit.OutcomeDenied {
			t.Fatalf("summary %+v: want 49 repeats of its kind", e)
		}
	}

	// Without a flush in between, the count goes into the next entry.
	appendOK(skip)
	for range 7 {
		appendOK(skip)
	}
	now = now.Add(2 * time.Minute)
	appendOK(skip)
	evs = rec.take()
	if len(evs) != 2 || repeats(t, evs[0]) != 0 || repeats(t, evs[1]) != 7 || evs[1].RequestID != "r1" {
		t.Fatalf("entries %+v: want the first refusal, then the next window's first carrying 7 repeats", evs)
	}

	// Close summarises what is left, window ended or not.
	appendOK(skip)
	appendOK(skip)
	if r.Close(); len(rec.evs) != 1 || repeats(t, rec.evs[0]) != 2 {
		t.Fatalf("Close wrote %+v, want one summary of 2", rec.evs)
	}
}

// An entry that cannot be written is the caller's error (it refuses the
// request as before); a counted refusal is not.
func TestRefusalsReturnTheAppendError(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recAudit{err: boom}
	r := NewRefusals(rec, nil)
	ev := audit.Event{Tenant: "t", Actor: "k", Action: "guard.skip", Outcome: audit.OutcomeDenied}
	if err := r.Append(context.Background(), ev); !errors.Is(err, boom) {
		t.Fatalf("first refusal: err = %v, want the appender's", err)
	}
	if err := r.Append(context.Background(), ev); err != nil {
		t.Fatalf("counted refusal: err = %v", err)
	}
}

func TestLockoutNoteCountsUnreported(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLockout(100)
	l.now = func() time.Time { return now }
	if first, n, _, _ := l.Note("c"); !first || n != 0 {
		t.Fatalf("first failure: first=%v unreported=%d", first, n)
	}
	for range 4 {
		if first, _, _, _ := l.Note("c"); first {
			t.Fatal("a repeat in the window reported first")
		}
	}
	now = now.Add(time.Minute)
	if first, n, _, _ := l.Note("c"); !first || n != 4 {
		t.Fatalf("next window: first=%v unreported=%d, want true and 4", first, n)
	}
	l.Note("c")
	now = now.Add(time.Minute)
	if got := l.Unreported(false); got["c"] != 1 || len(got) != 1 {
		t.Fatalf("Unreported = %v, want c:1", got)
	}
	if len(l.clients) != 0 {
		t.Fatal("a client with nothing left to report and no lockout was kept")
	}
}
