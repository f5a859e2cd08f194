package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Errors the executor returns; each wraps the last attempt's error too, whose
// text may hold upstream detail: log it, never send it to a client.
var (
	// ErrDeadline: the next retry could not start before the request
	// deadline, so the executor returned early instead of sleeping past it.
	ErrDeadline = errors.New("router: request deadline leaves no time to retry")
	// ErrAttemptsExhausted: MaxAttempts attempts failed.
	ErrAttemptsExhausted = errors.New("router: all attempts failed")
	// ErrFirstByteTimeout: a deployment sent nothing within FirstByte.
	ErrFirstByteTimeout = errors.New("router: first byte timeout")
	// ErrIdleTimeout: a stream was silent longer than IdleGap.
	ErrIdleTimeout = errors.New("router: stream idle timeout")
	// ErrSkipDeployment: an Attempt returns an error wrapping it when it
	// did not call the upstream because the deployment's own limits
	// (DeploymentSubject) refused; the executor moves to the next candidate
	// without counting an attempt or blaming the breaker.
	ErrSkipDeployment = errors.New("router: deployment skipped")
)

// Policy bounds retries.
type Policy struct {
	// MaxAttempts counts every attempt, fallbacks included (≥ 1).
	MaxAttempts int `json:"max_attempts" yaml:"max_attempts"`
	// BaseDelay and MaxDelay shape the full-jitter backoff: before the
	// n-th retry of the same deployment the executor sleeps a uniform random
	// time in [0, min(MaxDelay, BaseDelay·2^(n-1))], or the upstream's
	// retry-after when longer.
	BaseDelay time.Duration `json:"base_delay" yaml:"base_delay"`
	MaxDelay  time.Duration `json:"max_delay" yaml:"max_delay"`
}

// DefaultPolicy allows three attempts, with a 250ms base delay and an 8s cap.
var DefaultPolicy = Policy{MaxAttempts: 3, BaseDelay: 250 * time.Millisecond, MaxDelay: 8 * time.Second}

// Backoff returns the full-jitter delay before retry number n (n ≥ 1) of the
// same deployment: jitter(cap) with cap = min(MaxDelay, BaseDelay·2^(n-1)).
func (p Policy) Backoff(n int, jitter func(time.Duration) time.Duration) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < n && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	return min(max(jitter(ceiling), 0), ceiling)
}

// Attempt runs one try of the request on deployment d. It must honour ctx
// (which carries the deployment's timeouts), call Progress(ctx) whenever a
// chunk arrives from upstream, and return an *UpstreamError for HTTP error
// answers so they can be classified.
type Attempt func(ctx context.Context, d Deployment) error

// Result says how a request was routed: for the x-bulwark-deployment header
// and usage rows.
type Result struct {
	Deployment Deployment
	Alias      string // the alias that served it (differs after a context fallback)
	Attempts   int
}

// Executor runs a request across an alias's deployments with retries,
// fallback and breakers. Its fields are read-only after first use; it is
// safe for concurrent use.
type Executor struct {
	Router *Router
	Policy Policy
	// Now and Sleep are the clock; nil means real time. Tests inject a fake
	// clock whose Sleep advances Now. Per-attempt watchdogs (FirstByte,
	// IdleGap, Total) always use real timers.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a uniform random duration in [0, n]; nil means
	// math/rand/v2.
	Jitter func(n time.Duration) time.Duration
}

// Do runs attempt on the candidates of alias until one succeeds, a fatal
// error occurs, attempts run out or the deadline of ctx leaves no time for
// another try. firstByteSent (may be nil) reports whether any byte already
// reached the client: once it does, Do never retries and returns the error,
// and the handler ends the stream with an error event.
func (e *Executor) Do(ctx context.Context, aliasName string, attempt Attempt, firstByteSent func() bool) (Result, error) {
	var buf [8]Deployment
	cands, err := e.Router.Candidates(ctx, buf[:0], aliasName)
	if err != nil {
		return Result{}, err
	}
	policy := e.Policy
	if policy.MaxAttempts <= 0 {
		policy = DefaultPolicy
	}
	var (
		tries    [maxAliasDeployments]int
		hints    [maxAliasDeployments]time.Duration
		last     error
		attempts int
		skipped  int
		switched bool
	)
	for idx := 0; attempts < policy.MaxAttempts; idx++ {
		if err := ctx.Err(); err != nil {
			return Result{Attempts: attempts}, wrap(err, last)
		}
		i := idx % len(cands)
		d := cands[i]
		if tries[i] > 0 {
			delay := max(policy.Backoff(tries[i], e.jitter), hints[i])
			if dl, ok := ctx.Deadline(); ok && !e.now().Add(delay).Before(dl) {
				return Result{Attempts: attempts}, wrap(ErrDeadline, last)
			}
			if err := e.sleep(ctx, delay); err != nil {
				return Result{Attempts: attempts}, wrap(err, last)
			}
		}
		if ok, berr := e.Router.breakers.Allow(ctx, d.Name); berr == nil && !ok {
			if skipped++; skipped >= len(cands) {
				return Result{Attempts: attempts}, wrap(ErrNoHealthyDeployment, last)
			}
			continue
		}
		skipped = 0
		attempts++
		tries[i]++
		err := e.run(ctx, d, attempt)
		if errors.Is(err, ErrSkipDeployment) {
			attempts--
			tries[i]--
			last = err
			if skipped++; skipped >= len(cands) {
				return Result{Attempts: attempts}, wrap(ErrNoHealthyDeployment, last)
			}
			continue
		}
		class := Classify(0, err)
		e.record(ctx, d.Name, class, err)
		if class == OK {
			return Result{Deployment: d, Alias: aliasName, Attempts: attempts}, nil
		}
		last = err
		if firstByteSent != nil && firstByteSent() {
			return Result{Deployment: d, Alias: aliasName, Attempts: attempts}, err
		}
		switch class {
		case Fatal:
			return Result{Deployment: d, Alias: aliasName, Attempts: attempts}, err
		case ContextWindow:
			next := e.Router.aliases[aliasName].ContextFallback
			if switched || next == "" {
				return Result{Deployment: d, Alias: aliasName, Attempts: attempts}, err
			}
			switched, aliasName = true, next
			if cands, err = e.Router.Candidates(ctx, buf[:0], next); err != nil {
				return Result{Attempts: attempts}, wrap(fmt.Errorf("context fallback: %w", err), last)
			}
			tries, hints, idx = [maxAliasDeployments]int{}, [maxAliasDeployments]time.Duration{}, -1
		case Retryable:
			var ue *UpstreamError
			if errors.As(err, &ue) {
				hints[i] = ue.RetryAfter
			}
			// A 429 without retry-after still cools the deployment down in
			// the breaker: wait that out rather than find it unavailable.
			if st, serr := e.Router.breakers.Status(ctx, d.Name); serr == nil {
				hints[i] = max(hints[i], st.CooldownUntil.Sub(e.now()))
			}
		}
	}
	return Result{Attempts: attempts}, wrap(ErrAttemptsExhausted, last)
}

// wrap returns reason, with the last attempt's error when there was one.
func wrap(reason, last error) error {
	if last == nil {
		return reason
	}
	return fmt.Errorf("%w: last attempt: %w", reason, last)
}

// record tells the breaker what the attempt said about the deployment.
func (e *Executor) record(ctx context.Context, name string, class Class, err error) {
	var ue *UpstreamError
	isUpstream := errors.As(err, &ue)
	switch {
	case class == Retryable && isUpstream && ue.Status == 429:
		_ = e.Router.breakers.Record(ctx, name, RateLimited, ue.RetryAfter)
	case class == Retryable:
		_ = e.Router.breakers.Record(ctx, name, Failure, 0)
	case class == OK || isUpstream:
		// A 4xx or context-window answer is the deployment working.
		_ = e.Router.breakers.Record(ctx, name, Success, 0)
	}
	// A client that left says nothing about the deployment: not recorded.
}

// run performs one attempt under the deployment's timeouts.
func (e *Executor) run(ctx context.Context, d Deployment, attempt Attempt) error {
	done := e.Router.begin(d.Name)
	defer done()
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d.Timeouts.Total > 0 {
		var stop context.CancelFunc
		actx, stop = context.WithTimeout(actx, d.Timeouts.Total)
		defer stop()
	}
	w := &Watch{router: e.Router, name: d.Name, start: time.Now(), idle: d.Timeouts.IdleGap, cancel: cancel}
	if d.Timeouts.FirstByte > 0 {
		w.timer = time.AfterFunc(d.Timeouts.FirstByte, func() { cancel(ErrFirstByteTimeout) })
	}
	defer func() { // Progress may have replaced the timer with the idle one
		if w.timer != nil {
			w.timer.Stop()
		}
	}()
	err := attempt(context.WithValue(actx, watchKey{}, w), d)
	if err != nil && ctx.Err() == nil {
		// Our own watchdog ended the attempt: say so, so it classifies as a
		// timeout rather than a client cancellation.
		if cause := context.Cause(actx); errors.Is(cause, ErrFirstByteTimeout) || errors.Is(cause, ErrIdleTimeout) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	if err == nil && !w.first.Load() {
		e.Router.ObserveTTFT(d.Name, time.Since(w.start)) // non-streaming: whole call
	}
	return err
}

type watchKey struct{}

// Watch is an attempt's watchdog behind Progress. A reader that reports
// progress many times looks it up once (WatchOf) rather than walking the
// context chain per chunk. A nil *Watch (outside an attempt) ignores
// Progress.
type Watch struct {
	router *Router
	name   string
	start  time.Time
	idle   time.Duration
	cancel context.CancelCauseFunc
	first  atomic.Bool
	timer  *time.Timer
}

// Progress tells the executor that the attempt running under ctx received a
// chunk from upstream: the first call records time to first token and
// disarms the first-byte timeout, every call re-arms the idle-gap timeout.
// It is a no-op outside an attempt. Call it from the goroutine that reads
// the upstream body.
func Progress(ctx context.Context) { WatchOf(ctx).Progress() }

// WatchOf returns the watchdog of the attempt running under ctx, or nil.
func WatchOf(ctx context.Context) *Watch {
	w, _ := ctx.Value(watchKey{}).(*Watch)
	return w
}

// Progress is Progress(ctx) for the attempt w watches.
func (w *Watch) Progress() {
	if w == nil {
		return
	}
	if !w.first.Swap(true) {
		w.router.ObserveTTFT(w.name, time.Since(w.start))
		if w.timer != nil {
			w.timer.Stop()
		}
		if w.idle > 0 {
			w.timer = time.AfterFunc(w.idle, func() { w.cancel(ErrIdleTimeout) })
		}
		return
	}
	if w.idle > 0 && w.timer != nil {
		w.timer.Reset(w.idle)
	}
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (e *Executor) jitter(n time.Duration) time.Duration {
	if e.Jitter != nil {
		return e.Jitter(n)
	}
	return rand.N(n + 1) //nolint:gosec // G404: retry backoff jitter only spreads load; nothing depends on it being unpredictable
}
