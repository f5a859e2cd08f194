package gatewayhook

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// reqState is what the request and response hooks of one request share:
// the resolved policy, the skip list and the placeholder masks. Its fields
// are set once (under once) before any concurrent use.
type reqState struct {
	skip []string // families the audited skip header turned off

	once   sync.Once
	err    error
	policy guard.Policy
	mask   *guard.Mask // the request's placeholders (reversible when the policy is)

	mu      sync.Mutex
	resp    *guard.Mask // numbers the response's own placeholders
	filters []*filter   // stream filters, harvested when the request ends
}

type ctxKey struct{}

func fromContext(ctx context.Context) *reqState {
	st, _ := ctx.Value(ctxKey{}).(*reqState)
	return st
}

// respMask returns the mask for placeholders the response side adds. It
// is a separate, non-reversible mask whose numbering starts after the
// request's, so "[EMAIL_3]" made for a secret the model produced can never
// be mistaken for (and restored as) the caller's "[EMAIL_1]".
func (st *reqState) respMask() *guard.Mask {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.resp == nil {
		st.resp = guard.NewMask(false)
		if st.mask != nil {
			seedAfter(st.resp, st.mask)
		}
	}
	return st.resp
}

// placeholderTypes are the types a request mask may have numbered.
var placeholderTypes = []string{
	"EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "CPF", "CNPJ",
	"OPENAI_KEY", "ANTHROPIC_KEY", "BULWARK_KEY", "GOOGLE_API_KEY", "AWS_ACCESS_KEY", "GITHUB_TOKEN",
	"GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "PRIVATE_KEY", "JWT", "GENERIC_SECRET", "INJECTION",
}

// seedAfter advances resp's numbering past every placeholder req has
// handed out. req.Restore of a candidate placeholder tells whether req
// knows it; without reversible masking no placeholder is ever restored, so
// collisions are harmless and nothing needs seeding.
func seedAfter(resp, req *guard.Mask) {
	if req.Len() == 0 {
		return
	}
	for _, typ := range placeholderTypes {
		for n := 1; ; n++ {
			ph := "[" + typ + "_" + strconv.Itoa(n) + "]"
			if req.Restore(ph) == ph {
				break
			}
			resp.Placeholder(typ, "\x00seed"+ph) // burns number n of typ
		}
	}
}

// skipHeader is guard.SkipHeader in canonical form, for a direct lookup.
var skipHeader = http.CanonicalHeaderKey(guard.SkipHeader)

// Middleware must wrap the gateway handler, after authentication. It
// reads the x-bulwark-guard-skip header: honoured only for identities with
// the guard:bypass scope (refused with 403 otherwise, 400 when malformed),
// every use audited before the request proceeds, refusals through
// Config.Refusals (aggregated by the server). When the
// request ends it writes the audit event for streamed responses.
func (h *Hooks) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{}
		if v := r.Header[skipHeader]; len(v) > 0 {
			skip, err := h.checkSkip(r, strings.Join(v, ","))
			if err != nil {
				apierr.Write(w, r, auth.DialectOf(r), err, h.log)
				return
			}
			st.skip = skip
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, st)
		next.ServeHTTP(w, r.WithContext(ctx))
		h.finish(ctx, w, st)
	})
}

// checkSkip validates and audits one use of the skip header.
func (h *Hooks) checkSkip(r *http.Request, v string) ([]string, error) {
	ctx := r.Context()
	id := identity.FromContext(ctx)
	if id == nil {
		return nil, apierr.Unauthorized("authentication required")
	}
	ev := audit.Event{Tenant: id.Tenant, Actor: id.KeyID, Action: "guard.skip", Target: r.URL.Path,
		RequestID: reqid.FromContext(ctx), Outcome: audit.OutcomeSuccess}
	skip, perr := guard.ParseSkip(v)
	var refuse *apierr.Error
	switch {
	case !id.HasScope(guard.ScopeBypass):
		ev.Outcome = audit.OutcomeDenied
		refuse = apierr.Forbidden("guard_bypass_denied", "the "+guard.SkipHeader+" header needs a key with the "+guard.ScopeBypass+" scope")
	case perr != nil:
		ev.Outcome = audit.OutcomeFailure
		refuse = apierr.BadRequest("invalid_request_error", "the "+guard.SkipHeader+" header must list pii, secrets or injection, each at most once").WithCause(perr)
	default:
		ev.Details = map[string]string{"families": strings.Join(skip, ",")}
	}
	h.metrics.skip(ev.Outcome)
	appender := h.audit // every use of the bypass is audited
	if refuse != nil {
		appender = h.refusals // repeated refusals are aggregated
	}
	if err := appender.Append(context.WithoutCancel(ctx), ev); err != nil {
		return nil, apierr.Unavailable("audit_unavailable", "the guardrail bypass could not be audited; the request was refused", 0).WithCause(err)
	}
	if refuse != nil {
		return nil, refuse
	}
	return skip, nil
}

// finish audits what the request's streams found. A stream's last event
// may still be buffered (the gateway leaves it for the response's end): it
// is flushed before the audit entry is written, not after.
func (h *Hooks) finish(ctx context.Context, w http.ResponseWriter, st *reqState) {
	st.mu.Lock()
	filters := st.filters
	st.filters = nil
	st.mu.Unlock()
	var findings []guard.Finding
	var blocked error
	for _, f := range filters {
		fs, err := f.harvest()
		findings = append(findings, fs...)
		if err != nil && blocked == nil {
			blocked = err
		}
	}
	if len(findings) == 0 {
		return
	}
	_ = http.NewResponseController(w).Flush()
	// The audit is written even when the client has gone.
	ctx = context.WithoutCancel(ctx)
	if err := h.report(ctx, st, "stream", findings, blocked); err != nil {
		h.log.ErrorContext(ctx, "guard: stream findings not audited", "request_id", reqid.FromContext(ctx), "err", err)
	}
}
