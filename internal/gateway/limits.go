package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Routing are the optional routing, limit and idempotency collaborators.
// A nil field switches its feature off.
type Routing struct {
	// Executor routes the aliases of its Router over deployments (retries,
	// fallback, breakers, timeouts). Without it a model resolves to one
	// provider and is called once.
	Executor *router.Executor
	// Deadline bounds a whole routed request (0: only the client's
	// cancellation); the executor never starts a retry it cannot finish.
	Deadline time.Duration
	// Gate applies rate limits, concurrency caps and budgets to the
	// subjects Limits returns and to each deployment's own limits.
	Gate *limit.Gate
	// Limits supplies the calling key's and tenant's limits.
	Limits LimitSource
	// Idempotency stores Idempotency-Key results per calling key.
	Idempotency idempotency.Store
	// MaxOutputTokens overrides, per upstream model, the output maximum
	// reserved in budgets when a request sets no max_tokens.
	MaxOutputTokens map[string]int64
}

// LimitSource returns the limits a verified caller is subject to. It must
// be safe for concurrent use and fail closed (an error refuses the call).
type LimitSource interface {
	// Subjects appends the caller's subjects (key:<id>, tenant:<t>) to dst;
	// it may leave out a subject that sets no limit.
	Subjects(ctx context.Context, id *identity.Identity, dst []limit.Subject) ([]limit.Subject, error)
}

// defaultMaxOutput is reserved for a model the gateway knows no output
// maximum of: large, so that a budget is never under-held.
const defaultMaxOutput = 128_000

// maxOutputs are vendors' output caps by model prefix (longest prefix wins).
var maxOutputs = map[string]int64{
	"gpt-4o": 16_384, "gpt-4.1": 32_768, "gpt-5": 128_000, "o1": 100_000, "o3": 100_000, "o4-mini": 100_000,
	"text-embedding": 0, "claude-opus-4": 32_000, "claude-opus-4-5": 64_000, "claude-sonnet-4": 64_000,
	"claude-haiku-4-5": 64_000, "claude-3-7-sonnet": 128_000, "claude-3-5-haiku": 8_192,
}

// maxOutput is the most output tokens model can produce.
func (g *Gateway) maxOutput(model string) int64 {
	if n, ok := g.deps.Routing.MaxOutputTokens[model]; ok {
		return n
	}
	if d, ok := g.outputs[model]; ok {
		return d
	}
	best, n := "", int64(defaultMaxOutput)
	for k, v := range maxOutputs {
		if len(k) > len(best) && strings.HasPrefix(model, k) {
			best, n = k, v
		}
	}
	return n
}

// limitPrice converts a price table entry to the budget arithmetic's
// form at its ceilings: every prompt token at the dearest price a prompt
// token of its tier can be billed at (a cache write with the one-hour TTL,
// which the client picks, costs twice input by default), so a reservation
// covers what usage.Price.Cost then settles.
func limitPrice(p usage.Price) limit.Price {
	in, out := p.Ceiling(false)
	longIn, longOut := p.Ceiling(true)
	return limit.Price{InputPerMTok: in, OutputPerMTok: out, CacheWritePerMTok: in, CacheReadPerMTok: in,
		LongContextThreshold: p.LongContextThreshold, LongInputPerMTok: longIn, LongOutputPerMTok: longOut,
		LongCacheWritePerMTok: longIn}
}

// maxPrice is the component-wise maximum of a and b: a worst case that
// holds whichever of them serves the call.
func maxPrice(a, b limit.Price) limit.Price {
	th := a.LongContextThreshold
	if th == 0 || (b.LongContextThreshold > 0 && b.LongContextThreshold < th) {
		th = b.LongContextThreshold
	}
	return limit.Price{InputPerMTok: max(a.InputPerMTok, b.InputPerMTok), OutputPerMTok: max(a.OutputPerMTok, b.OutputPerMTok),
		CacheWritePerMTok: max(a.CacheWritePerMTok, b.CacheWritePerMTok), CacheReadPerMTok: max(a.CacheReadPerMTok, b.CacheReadPerMTok),
		LongContextThreshold: th, LongInputPerMTok: max(a.LongInputPerMTok, b.LongInputPerMTok),
		LongOutputPerMTok: max(a.LongOutputPerMTok, b.LongOutputPerMTok), LongCacheWritePerMTok: max(a.LongCacheWritePerMTok, b.LongCacheWritePerMTok)}
}

// worst is the budget worst case of a routed alias: the highest price and
// output cap of every deployment it (or its context fallbacks) can reach.
// A nil price means some deployment has none.
type worst struct {
	price  *limit.Price
	maxOut int64
}

// aliasWorst precomputes worst for every alias of the executor's router.
func (g *Gateway) aliasWorst() map[string]worst {
	ex := g.deps.Routing.Executor
	if ex == nil {
		return nil
	}
	for _, d := range ex.Router.Deployments() {
		if d.MaxOutputTokens > 0 {
			g.outputs[d.Model] = max(g.outputs[d.Model], d.MaxOutputTokens)
		}
	}
	out := map[string]worst{}
	for _, name := range ex.Router.Aliases() {
		var w worst
		priced := true
		for next, hops := name, 0; next != "" && hops <= 32; hops++ {
			a, _ := ex.Router.Alias(next)
			for _, dn := range a.Deployments {
				d, _ := ex.Router.Deployment(dn)
				w.maxOut = max(w.maxOut, g.maxOutput(d.Model))
				p, ok := g.prices.Lookup(d.Model)
				if !ok {
					priced = false
					continue
				}
				lp := limitPrice(p)
				if w.price != nil {
					lp = maxPrice(*w.price, lp)
				}
				w.price = &lp
			}
			next = a.ContextFallback
		}
		if !priced {
			w.price = nil
		}
		out[name] = w
	}
	return out
}

// limiter applies the caller's limits around every billed call (fast path
// and translated alike): it is the first CallHook, so its AfterCall runs
// last with the final usage record. Its first half (admitRequest:
// concurrency, then requests per minute) runs ahead of the request hook
// when there is one, so a request the caller's limits refuse costs no
// guard scan; BeforeCall takes the rest (tokens per minute, then budget)
// on the estimate of the body the hook let through.
type limiter struct{ g *Gateway }

// admitRequest takes the caller's limits that do not depend on the body:
// concurrency, then requests per minute (of token counts, for a count).
// A refusal consumes nothing.
func (l limiter) admitRequest(ctx context.Context, c *Call) error {
	c.admitted = true
	rt := l.g.deps.Routing
	subs, err := rt.Limits.Subjects(ctx, c.Identity, c.subs[:0])
	if err != nil {
		return apierr.Unavailable(codeLimitsUnavailable, "limits could not be checked; retry shortly", time.Second).WithCause(err)
	}
	active := false
	for _, s := range subs {
		active = active || s.Active()
	}
	if !active {
		return nil
	}
	admit := rt.Gate.AdmitRequest
	if c.count {
		admit = rt.Gate.AdmitCount // a bucket of its own: counts never use up calls
	}
	adm, err := admit(ctx, subs)
	if err != nil {
		return deniedError(err)
	}
	c.adm, c.subjects = adm, subs
	return nil
}

// BeforeCall admits the call against the caller's subjects: the request
// step unless admitRequest already took it, then tokens per minute and
// budget. A refusal past the request step frees the slots; the request
// still counts against requests per minute.
func (l limiter) BeforeCall(ctx context.Context, c *Call) error {
	if !c.admitted {
		if err := l.admitRequest(ctx, c); err != nil {
			return err
		}
	}
	adm := c.adm
	if adm == nil {
		return nil
	}
	if err := adm.Reserve(ctx, c.subjects, l.g.estimate(c)); err != nil {
		c.adm = nil // ended by Reserve
		return deniedError(err)
	}
	if c.hdr != nil {
		limit.SetHeaders(c.hdr, adm.Requests, adm.Tokens)
	}
	return nil
}

// limited reports whether the gateway applies the callers' limits.
func (g *Gateway) limited() bool {
	return g.deps.Routing.Gate != nil && g.deps.Routing.Limits != nil
}

// AfterCall settles the admission: the tokens and the cost the usage row
// records, or a release when the call used nothing.
func (l limiter) AfterCall(ctx context.Context, c *Call, rec usage.Record) {
	if c.adm == nil {
		return
	}
	finish(ctx, l.g, c.adm, rec)
}

// finish settles adm from rec: a call that consumed no tokens releases its
// holds, any other is charged what its usage row says.
func finish(ctx context.Context, g *Gateway, adm *limit.Admission, rec usage.Record) {
	tokens := rec.PromptTokens + rec.CompletionTokens
	var err error
	if tokens == 0 {
		err = adm.Abort(ctx)
	} else {
		err = adm.FinishCost(ctx, tokens, rec.CostMicros)
	}
	if err != nil {
		g.log.Error("settle limits", "request_id", rec.RequestID, "key_id", rec.KeyID, "err", err)
	}
}

// estimate is what the call can cost at worst: the prompt estimated from
// the body (bytes bound its tokens), the requested output cap or the
// model's maximum, at the highest price of any deployment that may serve.
func (g *Gateway) estimate(c *Call) limit.Estimate {
	est := limit.Estimate{PromptTokens: c.PromptTokens, PromptTokensMax: c.PromptTokens * 4, MaxOutputTokens: c.MaxTokens}
	if w, ok := g.worst[c.Model]; ok && c.routed {
		est.Price = w.price
		if est.MaxOutputTokens <= 0 {
			est.MaxOutputTokens = w.maxOut
		}
		return est
	}
	if p, ok := g.prices.Lookup(c.Upstream); ok {
		lp := limitPrice(p)
		est.Price = &lp
	}
	if est.MaxOutputTokens <= 0 && !c.embedding {
		est.MaxOutputTokens = g.maxOutput(c.Upstream)
	}
	return est
}

// codeLimitsUnavailable is the error code of a request refused because a
// limit store failed.
const codeLimitsUnavailable = "limits_unavailable"

// deniedError gives a refusal its public face: 429 with the x-ratelimit
// headers and retry-after, 400 for what can never fit, and 503 when a
// limit store failed (fail closed).
func deniedError(err error) error {
	var d *limit.Denied
	if !errors.As(err, &d) {
		return apierr.Unavailable(codeLimitsUnavailable, "limits could not be checked; retry shortly", time.Second).WithCause(err)
	}
	h := http.Header{}
	limit.SetHeaders(h, d.Requests, d.Tokens)
	var e *apierr.Error
	switch {
	case d.Reason == limit.ReasonNoPrice:
		e = apierr.BadRequest("model_not_priced", "this key has a budget and the model has no configured price; ask the operator to configure one")
	case errors.Is(d.Err, limit.ErrCostTooLarge):
		e = apierr.BadRequest("request_too_large_for_limit", fmt.Sprintf("the request's tokens exceed the tokens-per-minute limit of %s", d.Subject))
	case d.Reason == limit.ReasonBudget:
		e = apierr.RateLimited("budget_exceeded", d.Err.Error(), 0)
		h[headerShouldRetry] = noRetry()[headerShouldRetry] // a spent budget does not come back in seconds
	default:
		e = apierr.RateLimited("rate_limit_exceeded", fmt.Sprintf("%s limit of %s reached; retry later", d.Reason, d.Subject), max(d.RetryAfter, time.Second))
	}
	e.Header = h
	return e.WithCause(err)
}
