package limit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Subject is one party a request is charged to, with its limits: the
// calling key ("key:<id>"), its tenant ("tenant:<t>") or the deployment
// ("deploy:<name>"). Zero RPM, TPM or MaxParallel means unlimited; a budget
// applies only when Budgeted is set (so a $0 budget is expressible).
type Subject struct {
	ID           string
	RPM          int64
	TPM          int64
	MaxParallel  int64
	Budgeted     bool
	BudgetMicros int64
	BudgetPeriod Period
}

// Estimate is what the gateway knows before the call.
type Estimate struct {
	// PromptTokens estimates the prompt's tokens (reserved against tokens
	// per minute and reconciled after the call).
	PromptTokens int64
	// PromptTokensMax is a hard upper bound of the prompt's tokens (for
	// example its size in bytes), used for the budget's worst case so a
	// reservation never under-holds; zero means PromptTokens.
	PromptTokensMax int64
	// MaxOutputTokens is the request's max tokens, or the model's maximum
	// when the request sets none.
	MaxOutputTokens int64
	// Price of the model; nil when unknown, which refuses the request if any
	// subject is Budgeted.
	Price *Price
}

// Reason says which limit refused a request.
type Reason string

// Refusal reasons.
const (
	ReasonRequests    Reason = "requests"                // RPM: 429
	ReasonCounts      Reason = "token-counting requests" // RPM of token counts, a bucket of its own: 429
	ReasonTokens      Reason = "tokens"                  // TPM: 429 (400 when Err is ErrCostTooLarge: it can never fit)
	ReasonConcurrency Reason = "concurrency"             // max parallel: 429
	ReasonBudget      Reason = "budget"                  // budget exhausted: 429 (OpenAI's insufficient_quota)
	ReasonNoPrice     Reason = "no_price"                // budgeted key, model without a price: 400
)

// ErrDenied is matched by every *Denied.
var ErrDenied = errors.New("limit: request denied")

// ErrNoPrice is wrapped by a Denied with ReasonNoPrice.
var ErrNoPrice = errors.New("model has no configured price; budgeted keys cannot use it")

// Denied is a refusal with what the response needs: which limit, for whom,
// how long to wait, and the decisions for the x-ratelimit headers. Its
// message names the subject and limit but holds no secret.
type Denied struct {
	Reason     Reason
	Subject    string
	RetryAfter time.Duration
	Requests   Decision
	Tokens     Decision
	Err        error // *BudgetExceededError, ErrTooManyInFlight, ErrCostTooLarge or ErrNoPrice, if any
}

// Error names the limit and the subject; it holds no secret.
func (d *Denied) Error() string {
	msg := fmt.Sprintf("%s limit of %s reached", d.Reason, d.Subject)
	if d.Err != nil {
		msg += ": " + d.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrDenied) true.
func (d *Denied) Is(target error) bool { return target == ErrDenied }

// Unwrap exposes the underlying cause (e.g. ErrBudgetExceeded).
func (d *Denied) Unwrap() error { return d.Err }

// Gate applies every limit to a request in the documented order:
// concurrency, requests per minute, tokens per minute, budget. Each step is
// all-or-nothing across subjects, and a refusal undoes the steps before it,
// so a refused request consumes nothing. Fields left nil skip their step.
// A Gate is safe for concurrent use.
type Gate struct {
	Rate        RateLimiter
	Concurrency ConcurrencyLimiter
	Budget      Budget
}

// Admission is an admitted request's holds. Call exactly one of Finish or
// Abort. Not safe for concurrent use.
type Admission struct {
	gate     *Gate
	est      Estimate
	slots    []func() // concurrency releases
	unRPM    func()   // refunds the request count if a later step refuses
	tokens   TokenReservation
	budget   BudgetReservation
	budgeted bool
	done     bool
	// Requests and Tokens are the decisions for the x-ratelimit headers.
	Requests Decision
	Tokens   Decision
	// WorstCaseMicros is what was held in the budgets.
	WorstCaseMicros int64
}

// Admit checks and holds every limit of subjects. It returns a *Denied for a
// refusal and another error when a store failed (fail closed: refuse with
// 503).
func (g *Gate) Admit(ctx context.Context, subjects []Subject, est Estimate) (*Admission, error) {
	a := &Admission{gate: g, est: est}
	if err := a.acquire(ctx, subjects); err != nil {
		a.undo(ctx)
		return nil, err
	}
	return a, nil
}

// AdmitRequest takes the first two steps of Admit, those that do not
// depend on what the request asks for: concurrency, then requests per
// minute. A refusal undoes them, so it consumes nothing. The caller then
// completes the admission with Reserve, or ends it with Abort (the request
// still counts against requests per minute). It lets a caller bound the
// work it spends on a request's body (a guardrail scan) by the caller's
// concurrency and request rate, before that work and the size-dependent
// steps.
func (g *Gate) AdmitRequest(ctx context.Context, subjects []Subject) (*Admission, error) {
	return g.admitRequest(ctx, subjects, calls)
}

// AdmitCount admits a token-counting call (nothing billed): the
// concurrency slots it shares with every other request of its subjects,
// then a requests-per-minute bucket of its own, sized by the same RPM. A
// client that counts before each call (Claude Code does) so gets N counts
// and N calls a minute, and its counts never use up its calls. TPM and
// budget do not apply. A refusal consumes nothing; end an admission with
// Abort, which frees the slots (the count still counts).
func (g *Gate) AdmitCount(ctx context.Context, subjects []Subject) (*Admission, error) {
	return g.admitRequest(ctx, subjects, counts)
}

func (g *Gate) admitRequest(ctx context.Context, subjects []Subject, b bucket) (*Admission, error) {
	a := &Admission{gate: g}
	if err := a.acquireRequest(ctx, subjects, b); err != nil {
		a.undo(ctx)
		return nil, err
	}
	return a, nil
}

// bucket is a per-minute request count a request step charges: the prefix
// of its limit keys and the reason a refusal gives.
type bucket struct {
	prefix string
	reason Reason
}

var (
	calls  = bucket{"rpm:", ReasonRequests} // billed calls
	counts = bucket{"cpm:", ReasonCounts}   // token counts
)

// Reserve takes the remaining steps of an admission from AdmitRequest for
// est: tokens per minute, then budget. On a refusal or a store failure it
// gives back what it took and ends the admission as Abort does: the slots
// are freed and the request still counts against requests per minute.
func (a *Admission) Reserve(ctx context.Context, subjects []Subject, est Estimate) error {
	a.est = est
	err := a.takeTokens(ctx, subjects)
	if err == nil {
		err = a.reserveBudget(ctx, subjects)
	}
	if err != nil {
		_ = a.Abort(ctx)
	}
	return err
}

func (a *Admission) acquire(ctx context.Context, subjects []Subject) error {
	if err := a.acquireRequest(ctx, subjects, calls); err != nil {
		return err
	}
	if err := a.takeTokens(ctx, subjects); err != nil {
		return err
	}
	return a.reserveBudget(ctx, subjects)
}

// acquireRequest takes the concurrency slots and the request count in b.
func (a *Admission) acquireRequest(ctx context.Context, subjects []Subject, b bucket) error {
	g := a.gate
	if g.Concurrency != nil {
		for _, s := range subjects {
			if s.MaxParallel <= 0 {
				continue
			}
			rel, err := g.Concurrency.Acquire(ctx, "par:"+s.ID, s.MaxParallel)
			if errors.Is(err, ErrTooManyInFlight) {
				return &Denied{Reason: ReasonConcurrency, Subject: s.ID, RetryAfter: time.Second, Err: err}
			}
			if err != nil {
				return fmt.Errorf("concurrency limit: %w", err)
			}
			a.slots = append(a.slots, rel)
		}
	}
	if g.Rate == nil {
		return nil
	}
	rpm := perMinute(subjects, b.prefix, func(s Subject) int64 { return s.RPM })
	if len(rpm) == 0 {
		return nil
	}
	d, err := g.Rate.Take(ctx, 1, rpm...)
	if err != nil {
		return fmt.Errorf("request rate limit: %w", err)
	}
	a.Requests = d
	if !d.Allowed {
		return &Denied{Reason: b.reason, Subject: subjectOf(d), RetryAfter: d.RetryAfter, Requests: d}
	}
	a.unRPM = func() { _ = g.Rate.Adjust(context.WithoutCancel(ctx), -1, rpm...) }
	return nil
}

// perMinute is the per-minute limit, keyed prefix+ID, of every subject
// whose n is set (zero is unlimited).
func perMinute(subjects []Subject, prefix string, n func(Subject) int64) []Limit {
	var out []Limit
	for _, s := range subjects {
		if v := n(s); v > 0 {
			out = append(out, Limit{Key: prefix + s.ID, Rate: PerMinute(v)})
		}
	}
	return out
}

// takeTokens reserves the estimate against tokens per minute.
func (a *Admission) takeTokens(ctx context.Context, subjects []Subject) error {
	if a.gate.Rate == nil {
		return nil
	}
	tpm := perMinute(subjects, "tpm:", func(s Subject) int64 { return s.TPM })
	if len(tpm) == 0 {
		return nil
	}
	est := a.est.PromptTokens + a.est.MaxOutputTokens
	res, d, err := ReserveTokens(ctx, a.gate.Rate, est, tpm...)
	a.Tokens = d
	if errors.Is(err, ErrCostTooLarge) {
		return &Denied{Reason: ReasonTokens, Subject: subjectOf(d), Requests: a.Requests, Tokens: d, Err: err}
	}
	if err != nil {
		return fmt.Errorf("token rate limit: %w", err)
	}
	if !d.Allowed {
		return &Denied{Reason: ReasonTokens, Subject: subjectOf(d), RetryAfter: d.RetryAfter, Requests: a.Requests, Tokens: d}
	}
	a.tokens = res
	return nil
}

// subjectOf names the subject of the deciding limit key ("rpm:key:a" →
// "key:a").
func subjectOf(d Decision) string {
	if i := strings.IndexByte(d.Key, ':'); i >= 0 {
		return d.Key[i+1:]
	}
	return d.Key
}

func (a *Admission) reserveBudget(ctx context.Context, subjects []Subject) error {
	var scopes []BudgetScope
	for _, s := range subjects {
		if s.Budgeted {
			scopes = append(scopes, BudgetScope{ID: s.ID, LimitMicros: s.BudgetMicros, Period: s.BudgetPeriod})
		}
	}
	if len(scopes) == 0 || a.gate.Budget == nil {
		if len(scopes) > 0 {
			return errors.New("budget: subjects are budgeted but the gate has no budget store")
		}
		return nil
	}
	if a.est.Price == nil {
		return &Denied{Reason: ReasonNoPrice, Subject: scopes[0].ID, Requests: a.Requests, Tokens: a.Tokens, Err: ErrNoPrice}
	}
	prompt := max(a.est.PromptTokens, a.est.PromptTokensMax)
	a.WorstCaseMicros = WorstCaseMicros(*a.est.Price, prompt, a.est.MaxOutputTokens)
	res, err := a.gate.Budget.Reserve(ctx, scopes, a.WorstCaseMicros)
	var be *BudgetExceededError
	if errors.As(err, &be) {
		return &Denied{Reason: ReasonBudget, Subject: be.Scope.ID, Requests: a.Requests, Tokens: a.Tokens, Err: be}
	}
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	a.budget, a.budgeted = res, true
	return nil
}

// undo gives back what a refused admission took: slots, the request count,
// the token estimate.
func (a *Admission) undo(ctx context.Context) {
	_ = a.tokens.Reconcile(context.WithoutCancel(ctx), 0)
	if a.unRPM != nil {
		a.unRPM()
	}
	a.releaseSlots()
}

// Finish settles an admitted request after the call, also after a failure
// or a client disconnect mid-stream: u is the usage the upstream reported,
// or, when reported is false, the locally counted tokens, which are then
// charged at the worst-case tier. It reconciles tokens per minute, settles
// the budgets and frees the concurrency slots.
func (a *Admission) Finish(ctx context.Context, u Usage, reported bool) error {
	tokens := u.InputTokens + u.OutputTokens + u.CacheWriteTokens + u.CacheReadTokens
	return a.FinishCost(ctx, tokens, a.Cost(u, reported))
}

// FinishCost is Finish with the cost computed by the caller, so that the
// usage row and the budget record the very same amount: tokens reconcile
// the tokens-per-minute estimate and costMicros settles the budgets.
func (a *Admission) FinishCost(ctx context.Context, tokens, costMicros int64) error {
	if a.done {
		return nil
	}
	a.done = true
	ctx = context.WithoutCancel(ctx) // settle even when the client has gone
	defer a.releaseSlots()
	var errs []error
	if err := a.tokens.Reconcile(ctx, tokens); err != nil {
		errs = append(errs, err)
	}
	if a.budgeted {
		if err := a.gate.Budget.Settle(ctx, a.budget, costMicros); err != nil {
			errs = append(errs, fmt.Errorf("settle budget: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Cost is what Finish charges for u: the priced usage when the upstream
// reported it, otherwise the tokens at the worst-case tier.
func (a *Admission) Cost(u Usage, reported bool) int64 {
	if a.est.Price == nil {
		return 0
	}
	if reported {
		return CostMicros(*a.est.Price, u)
	}
	prompt := u.InputTokens + u.CacheWriteTokens + u.CacheReadTokens
	return WorstCaseMicros(*a.est.Price, prompt, u.OutputTokens)
}

// Abort ends an admitted request that failed before incurring any upstream
// cost: budgets are released, the token estimate refunded and the slots
// freed. The request still counts against requests per minute.
func (a *Admission) Abort(ctx context.Context) error {
	if a.done {
		return nil
	}
	a.done = true
	ctx = context.WithoutCancel(ctx)
	defer a.releaseSlots()
	var errs []error
	if err := a.tokens.Reconcile(ctx, 0); err != nil {
		errs = append(errs, err)
	}
	if a.budgeted {
		if err := a.gate.Budget.Release(ctx, a.budget); err != nil {
			errs = append(errs, fmt.Errorf("release budget: %w", err))
		}
	}
	return errors.Join(errs...)
}

// releaseSlots frees the concurrency slots.
func (a *Admission) releaseSlots() {
	for _, rel := range a.slots {
		rel()
	}
}
