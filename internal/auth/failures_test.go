package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// refuseAll is an Authenticator that knows no key.
type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, string) (*identity.Identity, error) {
	return nil, ErrUnknownKey
}

// standsFor is how many failures the entries stand for: an entry for
// itself and its repeats, a summary for its repeats.
func standsFor(t *testing.T, evs []audit.Event) int {
	t.Helper()
	n := 0
	for _, e := range evs {
		n += repeats(t, e)
		if e.Details["summary"] != "true" {
			n++
		}
	}
	return n
}

// TestAuthFailureEntriesCountTheBurst: a burst of failed authentications
// from one client — bad keys, junk, and junk refused while it is locked
// out — writes a bounded number of auth.failure entries (the first, the
// lockout's start, the first after it, one summary) whose counts add up
// to the burst, so an operator can tell one failure from thousands.
// Addresses of one IPv6 /64 are one client: rotating them neither adds
// entries nor loses counts.
func TestAuthFailureEntriesCountTheBurst(t *testing.T) {
	badKey, _, err := NewKey() // well formed, unknown: checked even under lockout
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		addr  func(i int) string
		actor string // of the summary
	}{
		{"one address", func(int) string { return "203.0.113.7" }, "client:203.0.113.7"},
		{"one /64", func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) }, "client:2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recAudit{}
			m := &Middleware{Keys: refuseAll{}, Lockout: NewLockout(3), Refusals: NewRefusals(rec, nil)}
			h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a bad credential got through") }))
			const n = 500
			for i := range n {
				cred := "junk-" + fmt.Sprint(i)
				if i%5 == 0 {
					cred = badKey
				}
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
				req.RemoteAddr = "[" + tt.addr(i) + "]:40000"
				req.Header.Set("Authorization", "Bearer "+cred)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			m.Refusals.Close()
			evs := rec.take()
			if len(evs) > 4 {
				t.Fatalf("%d failures wrote %d entries, want at most 4: %+v", n, len(evs), evs)
			}
			if got := standsFor(t, evs); got != n {
				t.Fatalf("entries stand for %d failures, want %d: %+v", got, n, evs)
			}
			last := evs[len(evs)-1]
			if last.Details["summary"] != "true" || last.Action != "auth.failure" || last.Actor != tt.actor || last.Outcome != audit.OutcomeDenied {
				t.Fatalf("last entry %+v: want the summary of the client's failures", last)
			}
		})
	}
}

// A forced report (the lockout's first) is appended even inside its
// kind's window, with the count so far; the count starts again after it.
func TestAppendFailureForced(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	rec := &recAudit{}
	r := NewRefusals(rec, nil)
	r.win.now = func() time.Time { return now }
	ev := audit.Event{Tenant: "default", Actor: "client:c", Action: "auth.failure", Outcome: audit.OutcomeDenied}
	for i := range 10 {
		if err := r.AppendFailure(ctx, "c", ev, i == 6); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	if err := r.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	if len(evs) != 3 || repeats(t, evs[0]) != 0 || repeats(t, evs[1]) != 5 || repeats(t, evs[2]) != 3 || evs[2].Details["summary"] != "true" {
		t.Fatalf("entries %+v: want the first, the forced one with 5 repeats, a summary of 3", evs)
	}
	if ev.Details != nil {
		t.Fatal("AppendFailure changed the caller's event")
	}
}
