// Package idempotency makes a retried request with the same Idempotency-Key
// reach the upstream once: the first request runs, concurrent repeats wait
// for it, later repeats within the window get the stored response, and a
// repeat with a different body is refused (422). Keys are scoped to the
// calling key id, so one caller can never replay another's response.
//
// The gateway checks idempotency right after authentication and before rate
// limits and budgets: a replay consumes no rate limit and no budget, and a
// waiter holds no concurrency slot. Order: auth → idempotency → rate limit →
// budget → call → settle → Complete.
package idempotency

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrInvalidKey: the Idempotency-Key header is malformed (400).
	ErrInvalidKey = errors.New("idempotency: invalid key")
	// ErrNotOwner: the ticket no longer owns the key (its lease expired and
	// another request took over, or it was already completed).
	ErrNotOwner = errors.New("idempotency: ticket does not own the key")
	// ErrCapacity: the store is full of live entries; fail closed (503).
	ErrCapacity = errors.New("idempotency: store capacity exhausted")
	// ErrTooLarge: the response is too large to store; the key was released
	// so a repeat runs again.
	ErrTooLarge = errors.New("idempotency: response too large to store")
)

// MaxKeyLen bounds an Idempotency-Key.
const MaxKeyLen = 255

// ValidateKey accepts 1..255 visible ASCII characters (0x21–0x7E), which
// covers UUIDs and the keys SDKs generate.
func ValidateKey(k string) error {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return fmt.Errorf("%w: length must be 1..%d", ErrInvalidKey, MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return fmt.Errorf("%w: only visible ASCII is allowed", ErrInvalidKey)
		}
	}
	return nil
}

// Response is a stored answer, replayed byte for byte. Stores treat Body as
// read-only once completed.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Outcome of Begin.
type Outcome int

// Outcomes.
const (
	// New: the caller owns the key and must run the request, then Complete
	// or Abandon its Ticket.
	New Outcome = iota
	// Replay: Response holds the stored answer; do not call upstream.
	Replay
	// InFlight: another request with the same key and body is running;
	// wait on Done (or use Await) and Begin again.
	InFlight
	// Conflict: the key was used with a different body (422).
	Conflict
)

// String names the outcome for logs and metrics.
func (o Outcome) String() string {
	return [...]string{"new", "replay", "in_flight", "conflict"}[o]
}

// Ticket is ownership of a key while its request runs.
type Ticket struct {
	Scope, Key string
	Hash       [32]byte
	Token      string
}

// Begun is the answer of Begin.
type Begun struct {
	Outcome  Outcome
	Ticket   Ticket          // for New
	Response *Response       // for Replay
	Done     <-chan struct{} // for InFlight: closed when it completes or is abandoned (may be nil: poll)
}

// Store keeps idempotency state. Implementations (memory here, Redis later)
// must pass idempotencytest.Run and be safe for concurrent use.
type Store interface {
	// Begin claims key in scope for a request whose body hashes to
	// bodyHash, or reports a stored, running or conflicting use of it.
	Begin(ctx context.Context, scope, key string, bodyHash [32]byte) (Begun, error)
	// Complete stores resp for the window and wakes waiters.
	Complete(ctx context.Context, t Ticket, resp Response) error
	// Abandon releases the key without storing anything (the request
	// failed); the next Begin with the key runs again.
	Abandon(ctx context.Context, t Ticket) error
}

// Options configure a store. Zero fields take the defaults.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Window is how long a completed response is replayed (default 24h).
	Window time.Duration
	// Lease bounds how long a request may own a key without completing it;
	// after that a repeat runs again (default 10 minutes; set it above the
	// longest request deadline).
	Lease time.Duration
	// MaxEntries and MaxBytes bound the whole store (defaults 10000 live
	// keys and 64 MiB of stored bodies).
	MaxEntries int
	MaxBytes   int64
	// MaxEntriesPerScope and MaxBytesPerScope bound what one scope (one
	// calling key) may hold, so that no caller can fill the store for the
	// others (defaults: an eighth of MaxEntries and MaxBytes, at least 1;
	// at most MaxEntries and MaxBytes). A scope at its entry share makes
	// room by forgetting its own oldest completed answer, and is refused
	// (ErrCapacity) only when all its entries are in flight; an answer
	// that does not fit its byte share evicts the scope's own oldest
	// answers, and one larger than the share is not stored (ErrTooLarge).
	MaxEntriesPerScope int
	MaxBytesPerScope   int64
}

// Defaults for Options.
const (
	DefaultWindow     = 24 * time.Hour
	DefaultLease      = 10 * time.Minute
	DefaultMaxEntries = 10000
	DefaultMaxBytes   = 64 << 20
	// DefaultScopeShare: a scope's default share is 1/DefaultScopeShare of
	// the store's bounds.
	DefaultScopeShare = 8
)

// WithDefaults returns o with every zero field set to its default and the
// per-scope shares capped by the store's bounds, as every store applies it.
func (o Options) WithDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntriesPerScope <= 0 {
		o.MaxEntriesPerScope = max(1, o.MaxEntries/DefaultScopeShare)
	}
	if o.MaxBytesPerScope <= 0 {
		o.MaxBytesPerScope = max(1, o.MaxBytes/DefaultScopeShare)
	}
	o.MaxEntriesPerScope = min(o.MaxEntriesPerScope, o.MaxEntries)
	o.MaxBytesPerScope = min(o.MaxBytesPerScope, o.MaxBytes)
	return o
}

// pollInterval is how often Await re-checks a store that gives no Done
// channel, and the longest it trusts a Done channel before re-checking.
const pollInterval = 100 * time.Millisecond

// Await is Begin that waits out in-flight requests: it returns New (the
// caller now owns the key: the first request failed and was abandoned, or
// its lease expired), Replay or Conflict. It returns ctx's error if the
// caller gives up first.
func Await(ctx context.Context, s Store, scope, key string, bodyHash [32]byte) (Begun, error) {
	for {
		b, err := s.Begin(ctx, scope, key, bodyHash)
		if err != nil || b.Outcome != InFlight {
			return b, err
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return Begun{}, fmt.Errorf("await idempotency key: %w", ctx.Err())
		case <-b.Done:
		case <-t.C:
		}
		t.Stop()
	}
}
