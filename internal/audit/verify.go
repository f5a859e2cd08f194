package audit

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// BrokenError says where verification failed: the first bad entry.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d: %s", e.Seq, e.Reason)
}

// ErrBroken matches any *BrokenError with errors.Is.
var ErrBroken = errors.New("audit chain broken")

// Is makes errors.Is(err, ErrBroken) true for a BrokenError.
func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// Report summarises a verification that passed.
type Report struct {
	First, Last int64 // sequence numbers checked (0 when empty)
	Entries     int64
	Anchored    bool // the chain starts at a retention anchor
}

// Verify recomputes the whole chain. It returns a *BrokenError naming the
// first bad entry on an edited, deleted, inserted or reordered entry, a
// forged anchor, or — when want is non-nil — a chain that does not reach
// the head the operator kept (a cut-off tail).
func (l *Log) Verify(ctx context.Context, want *Head) (Report, error) {
	var rep Report
	prevSeq, prevMAC, err := l.start(ctx, &rep)
	if err != nil {
		return rep, err
	}
	err = l.st.AuditRows(ctx, prevSeq, func(r store.AuditRow) error {
		if r.Seq != prevSeq+1 {
			return &BrokenError{Seq: prevSeq + 1, Reason: fmt.Sprintf("missing (next entry present is %d)", r.Seq)}
		}
		if !hmac.Equal([]byte(l.mac(prevMAC, &r)), []byte(r.MAC)) {
			return &BrokenError{Seq: r.Seq, Reason: "MAC mismatch (entry or its predecessor was altered)"}
		}
		if rep.First == 0 {
			rep.First = r.Seq
		}
		rep.Last, rep.Entries = r.Seq, rep.Entries+1
		prevSeq, prevMAC = r.Seq, r.MAC
		return nil
	})
	if err != nil {
		return rep, err
	}
	if want != nil {
		if prevSeq < want.Seq {
			return rep, &BrokenError{Seq: prevSeq + 1, Reason: fmt.Sprintf("chain ends at %d but the kept head is %d (tail cut off)", prevSeq, want.Seq)}
		}
		if err := l.checkHead(ctx, *want); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// start returns where the chain begins: the authenticated anchor, or 0.
func (l *Log) start(ctx context.Context, rep *Report) (int64, string, error) {
	a, err := l.st.AuditAnchor(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("audit: %w", err)
	}
	if a == nil {
		return 0, "", nil
	}
	if !hmac.Equal([]byte(l.anchorMAC(*a)), []byte(a.MAC)) {
		return 0, "", &BrokenError{Seq: a.Seq + 1, Reason: "retention anchor MAC mismatch"}
	}
	rep.Anchored = true
	return a.Seq, a.PrevMAC, nil
}

func (l *Log) checkHead(ctx context.Context, want Head) error {
	var found bool
	err := l.st.AuditRows(ctx, want.Seq-1, func(r store.AuditRow) error {
		if r.Seq == want.Seq {
			found = hmac.Equal([]byte(r.MAC), []byte(want.MAC))
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if !found {
		return &BrokenError{Seq: want.Seq, Reason: "entry does not match the kept head"}
	}
	return nil
}

var errStop = errors.New("stop")

// Export calls fn for each entry at or after since, oldest first.
func (l *Log) Export(ctx context.Context, since time.Time, fn func(Event) error) error {
	return l.st.AuditRows(ctx, 0, func(r store.AuditRow) error {
		if r.Time.Before(since) {
			return nil
		}
		e := Event{Seq: r.Seq, Time: r.Time, Tenant: r.Tenant, Actor: r.Actor, Action: r.Action,
			Target: r.Target, Outcome: r.Outcome, RequestID: r.RequestID, MAC: r.MAC}
		if r.Details != "{}" && r.Details != "" {
			_ = json.Unmarshal([]byte(r.Details), &e.Details) // details were written as canonical JSON
		}
		return fn(e)
	})
}

// Purge deletes entries older than before, keeping the chain verifiable by
// anchoring it at the last deleted entry. The newest entry is never purged,
// so the chain always has a head. It returns how many entries went.
func (l *Log) Purge(ctx context.Context, before time.Time) (int64, error) {
	var last store.AuditRow
	var n int64
	head, err := l.st.AuditHead(ctx)
	if err != nil || head == nil {
		return 0, err
	}
	err = l.st.AuditRows(ctx, 0, func(r store.AuditRow) error {
		if !r.Time.Before(before) || r.Seq >= head.Seq {
			return errStop
		}
		last, n = r, n+1
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	a := store.AuditAnchor{Seq: last.Seq, PrevMAC: last.MAC}
	a.MAC = l.anchorMAC(a)
	ev := Event{Tenant: store.DefaultTenant, Actor: "system", Action: "audit.purge",
		Target: fmt.Sprintf("up-to-%d", last.Seq), Details: map[string]string{"entries": fmt.Sprint(n)}}
	err = l.st.PurgeAudit(ctx, last.Seq, a, l.Func(ev))
	if errors.Is(err, store.ErrConflict) {
		return 0, nil // another purge got there first; the chain is intact
	}
	if err != nil {
		return 0, fmt.Errorf("audit: purge: %w", err)
	}
	return n, nil
}
