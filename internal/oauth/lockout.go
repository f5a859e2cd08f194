package oauth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
)

// FailureLimiter counts failed attempts per client and locks clients out
// (*auth.Lockout implements it). Implementations must be safe for
// concurrent use.
type FailureLimiter interface {
	// Locked reports whether client is locked out, and for how long.
	Locked(client string) (bool, time.Duration)
	// Fail records a failure: whether it is the first of its window (worth
	// auditing) and whether the client is now locked out, for how long.
	Fail(client string) (first, locked bool, retry time.Duration)
}

// FailureAuditor audits the refusals a FailureLimiter counts, aggregated
// per client so that a flood of them writes a bounded number of entries
// that still count every refusal (*auth.Refusals implements it).
// Implementations must be safe for concurrent use.
type FailureAuditor interface {
	// AppendFailure audits ev, a refusal of client: appended when it is
	// the first of its client and action in a window, or when force is
	// set, carrying in Details["repeats"] the refusals only counted since
	// the previous entry; otherwise only counted (a later entry or a
	// summary carries it).
	AppendFailure(ctx context.Context, client string, ev audit.Event, force bool) error
}

// errLockedOut: a locked-out client presented a secret that is not even
// shaped like a key; it is refused before the key store is asked.
var errLockedOut = errors.New("client locked out")

// failureGuard applies a FailureLimiter to the token endpoint. A nil guard
// allows everything and counts nothing. Immutable; safe for concurrent use.
type failureGuard struct {
	limiter    FailureLimiter
	audit      FailureAuditor
	clientKey  func(*http.Request) string
	wellFormed func(string) bool
}

// check names the client of r and reports whether it is locked out.
func (g *failureGuard) check(r *http.Request) (client string, locked bool) {
	if g == nil {
		return "", false
	}
	client = g.clientKey(r)
	locked, _ = g.limiter.Locked(client)
	return client, locked
}

// mayTry reports whether a locked-out client's secret is still checked:
// a valid key keeps working under a lockout (so a shared address cannot be
// used to lock honest clients out); anything not shaped like a key is
// refused without touching the key store.
func (g *failureGuard) mayTry(secret string) bool {
	return g == nil || g.wellFormed == nil || g.wellFormed(secret)
}

// fail counts a refusal; it returns whether the limiter reports it first
// (to be audited at once) and, when the client is now locked out, for how
// long.
func (g *failureGuard) fail(client string) (first bool, lockedFor time.Duration) {
	first, locked, retry := g.limiter.Fail(client)
	if !locked {
		retry = 0
	}
	return first, retry
}

// locked returns how long client stays locked out.
func (g *failureGuard) locked(client string) time.Duration {
	if g == nil {
		return 0
	}
	_, d := g.limiter.Locked(client)
	return d
}

// writeLockedOut answers 429 with Retry-After in whole seconds (at least 1).
func writeLockedOut(w http.ResponseWriter, d time.Duration) {
	secs := max(int(math.Ceil(d.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "temporarily_unavailable",
		"error_description": "too many failed token requests from this client; retry later"})
}
