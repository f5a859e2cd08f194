package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// DetailRepeats names the audit detail that carries how many refusals of
// the same kind were counted, not audited one by one, since the previous
// entry of that kind.
const DetailRepeats = "repeats"

// Refusals audits refusals that a caller can repeat cheaply — refusals of
// authenticated callers (Append) and failed authentications (AppendFailure)
// — with a Lockout window (one minute) per kind of refusal that never
// locks anyone out. The first refusal of a kind in its window is appended
// at once; later ones in the window are only counted. A count is never
// dropped: it goes into the next entry of its kind (Details[DetailRepeats])
// or, when none comes, into a summary entry of its kind (no target,
// Details[DetailRepeats] and "summary": "true") written by Flush once the
// window has ended. An entry thus stands for itself and its repeats, a
// summary for its repeats. Run flushes every minute; Close flushes what is
// left. So a caller repeating a refusal writes at most two entries a
// minute per kind, however fast it sends (a failing client at most three
// more, those its lockout reports: see AppendFailure). (Should more than
// 100 000 kinds be counted at once, the oldest idle ones are forgotten
// with their counts, as the Lockout bounds its table.)
//
// Refusals is an audit.Appender: pass it where refusals are audited.
// Safe for concurrent use.
type Refusals struct {
	audit audit.Appender
	log   *slog.Logger
	win   *Lockout

	flushMu sync.Mutex // one Flush at a time, so summaries keep their order
}

var _ audit.Appender = (*Refusals)(nil)

// NewRefusals returns a Refusals appending to a. log (may be nil)
// receives summaries that could not be written.
func NewRefusals(a audit.Appender, log *slog.Logger) *Refusals {
	return &Refusals{audit: a, log: log, win: NewLockout(math.MaxInt)}
}

// kind names the refusals aggregated together, reversibly (a token
// subject may hold any character).
func kind(ev audit.Event) string {
	b, _ := json.Marshal([4]string{ev.Tenant, ev.Actor, ev.Action, ev.Outcome}) // strings always encode
	return string(b)
}

// Append audits the refusal ev: it appends it (with the count of the
// refusals of its kind not audited since the previous entry) when it is
// the first of its kind in the window, and otherwise only counts it and
// returns nil.
func (r *Refusals) Append(ctx context.Context, ev audit.Event) error {
	first, repeats, _, _ := r.win.Note(kind(ev))
	if !first {
		return nil
	}
	return r.audit.Append(ctx, withRepeats(ev, repeats)) //nolint:wrapcheck // the appender's error, as if called directly
}

// AppendFailure audits ev, a failed authentication (auth.failure) or
// refused token request (oauth.token) of source, the client's Lockout key
// (LockoutKey: an IPv6 client's /64). Its kind is the source and the
// action, not the actor: a client rotating addresses inside its /64, or
// the key ids it names, cannot multiply the entries. force appends it
// whatever its place in the window — the shared Lockout reported it first
// (the first failure of the client's window, the start of a lockout),
// which is audited as it always was — with the count since the previous
// entry of its kind; so is the first of its kind, and the rest are only
// counted. A kind's summary names the client as its actor ("client:" and
// the source), in the default tenant.
func (r *Refusals) AppendFailure(ctx context.Context, source string, ev audit.Event, force bool) error {
	k := kind(audit.Event{Tenant: "default", Actor: "client:" + source, Action: ev.Action, Outcome: audit.OutcomeDenied})
	first, repeats, _, _ := r.win.fail(k, force)
	if !first {
		return nil
	}
	return r.audit.Append(ctx, withRepeats(ev, repeats)) //nolint:wrapcheck // the appender's error, as if called directly
}

// withRepeats returns ev with Details[DetailRepeats] set when repeats > 0,
// leaving the caller's map unchanged.
func withRepeats(ev audit.Event, repeats int) audit.Event {
	if repeats == 0 {
		return ev
	}
	d := make(map[string]string, len(ev.Details)+1)
	for k, v := range ev.Details {
		d[k] = v
	}
	d[DetailRepeats] = strconv.Itoa(repeats)
	ev.Details = d
	return ev
}

// Flush appends one summary entry per kind whose window has ended with
// refusals only counted (every kind with a count, when all is set).
func (r *Refusals) Flush(ctx context.Context, all bool) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	var failed error
	for k, n := range r.win.Unreported(all) {
		var p [4]string
		if json.Unmarshal([]byte(k), &p) != nil {
			continue // not a kind: cannot happen
		}
		ev := audit.Event{Tenant: p[0], Actor: p[1], Action: p[2], Outcome: p[3],
			Details: map[string]string{DetailRepeats: strconv.Itoa(n), "summary": "true"}}
		if err := r.audit.Append(ctx, ev); err != nil {
			failed = fmt.Errorf("audit summary of %d %s refusals of %s: %w", n, ev.Action, ev.Actor, err)
			if r.log != nil {
				r.log.Error("audit summary of repeated refusals failed", "actor", ev.Actor, "action", ev.Action, "repeats", n, "err", err)
			}
		}
	}
	return failed
}

// Run flushes every minute until ctx ends.
func (r *Refusals) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.Flush(context.WithoutCancel(ctx), false)
		}
	}
}

// Close writes a summary of every count left (at shutdown, after the
// last request).
func (r *Refusals) Close() {
	_ = r.Flush(context.Background(), true)
}
