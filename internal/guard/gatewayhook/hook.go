// Package gatewayhook runs Bulwark's guardrails inside the LLM gateway: it
// implements gateway.RequestHook and gateway.ResponseHook over the guard
// engine and the streaming redactor, resolves each caller's policy (key
// settings over tenant settings over guard.DefaultPolicy), honours the
// audited x-bulwark-guard-skip header for keys with the guard:bypass scope,
// counts every detection in Prometheus and writes one audit event per
// request phase that found something — family, type, path and action,
// never the matched value.
//
// Every failure fails closed: a policy that cannot be resolved, a detector
// that errors under a redact or block policy, or an audit entry that cannot
// be written refuses the request.
package gatewayhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// Config wires the hooks to the rest of the server.
type Config struct {
	// TenantPolicy returns a tenant's policy (config.Guard.TenantPolicy).
	// Nil means guard.DefaultPolicy for every tenant.
	TenantPolicy func(tenant string) (guard.Policy, error)
	// KeySettings returns the caller's own policy settings in
	// guard.ParsePolicy syntax ("" for none); see KeyRecords. Nil means no
	// per-key policies.
	KeySettings func(ctx context.Context, id *identity.Identity) (string, error)
	// Audit receives one event per request phase with findings, and every
	// use of the skip header. Required.
	Audit audit.Appender
	// Refusals receives the refused uses of the skip header (no
	// guard:bypass scope, or a malformed value): an aggregator such as
	// *auth.Refusals, so that repeating a refused header costs no durable
	// write per request. Nil means Audit (one entry per refusal).
	Refusals audit.Appender
	// Metrics registers bulwark_guard_* counters; nil skips metrics.
	Metrics Registerer
	// Log receives failures that cannot reach a client (a stream's audit
	// entry). Nil discards them.
	Log *slog.Logger
}

// Hooks are the gateway's guardrail hooks. Use them as both
// gateway.Hooks.Request and gateway.Hooks.Response, and wrap the gateway's
// handler with Middleware. Safe for concurrent use.
type Hooks struct {
	eng      *guard.Engine
	tenant   func(string) (guard.Policy, error)
	keys     func(context.Context, *identity.Identity) (string, error)
	audit    audit.Appender
	refusals audit.Appender
	metrics  *metrics
	log      *slog.Logger
	policies policyCache
}

var (
	_ gateway.RequestHook  = (*Hooks)(nil)
	_ gateway.ResponseHook = (*Hooks)(nil)
)

// New builds the hooks and the guard engine (loading the injection model).
func New(cfg Config) (*Hooks, error) {
	if cfg.Audit == nil {
		return nil, errors.New("gatewayhook: an audit appender is required")
	}
	eng, err := guard.New(nil)
	if err != nil {
		return nil, fmt.Errorf("gatewayhook: %w", err)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("gatewayhook: %w", err)
	}
	h := &Hooks{eng: eng, tenant: cfg.TenantPolicy, keys: cfg.KeySettings, audit: cfg.Audit, refusals: cfg.Refusals, metrics: m, log: cfg.Log}
	if h.refusals == nil {
		h.refusals = cfg.Audit
	}
	if h.tenant == nil {
		h.tenant = func(string) (guard.Policy, error) { return guard.DefaultPolicy(), nil }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// InspectRequest applies the caller's policy to every string of body. It
// returns body itself when nothing changed (the fast path is not
// re-encoded), a body with only the redacted strings rewritten, or an
// *apierr.Error naming the guardrail that refused it.
func (h *Hooks) InspectRequest(ctx context.Context, d apierr.Dialect, body []byte) ([]byte, error) {
	st, err := h.state(ctx)
	if err != nil {
		return nil, err
	}
	p := st.policy
	if allOff(p) {
		return body, nil
	}
	// Trust (which turns are the operator's) only matters to injection
	// detection; finding it walks the JSON once more, so skip it when
	// injection is off — the scan's result is the same either way.
	var roles func(string) guard.Trust
	if p.Injection != guard.Off {
		roles = trustFor(d, body)
	}
	return h.scan(ctx, st, "request", body, p, roles, st.mask)
}

// scan applies p to a JSON body (the top-level model name aside, see
// withoutModel), reports the findings and maps errors to their client face.
func (h *Hooks) scan(ctx context.Context, st *reqState, phase string, body []byte, p guard.Policy, trust func(string) guard.Trust, m *guard.Mask) ([]byte, error) {
	in, model := withoutModel(body, p)
	out, findings, err := h.eng.ScanJSONMask(ctx, in, p, trust, m)
	if aerr := h.report(ctx, st, phase, findings, err); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, publicError(err, phase)
	}
	if model != nil {
		if out, err = sjson.SetRawBytes(out, "model", model); err != nil {
			return nil, apierr.Internal(fmt.Errorf("guard: restore the model field: %w", err))
		}
	}
	return out, nil
}

// withoutModel returns the body to scan. The top-level "model" names a
// configured model or alias (replaced by the upstream's name before
// forwarding) or, in an answer, the model that wrote it: never caller
// data. But a real name
// can look like PII ("claude-sonnet-4-5-20250929" reads as a phone
// number). Only when it does is the scan run on a copy with a neutral
// model, and the raw original returned to be put back afterwards.
func withoutModel(body []byte, p guard.Policy) ([]byte, []byte) {
	m := gjson.GetBytes(body, "model")
	if m.Type != gjson.String || len(guard.Spans(m.Str, p)) == 0 {
		return body, nil
	}
	scan, err := sjson.SetBytes(bytes.Clone(body), "model", "model")
	if err != nil {
		return body, nil // scan as is: at worst the model is refused, never leaked
	}
	return scan, []byte(m.Raw)
}

// InspectResponse applies the PII and secret actions to a non-streamed
// answer, then restores the request's placeholders under a reversible
// policy.
func (h *Hooks) InspectResponse(ctx context.Context, _ apierr.Dialect, body []byte) ([]byte, error) {
	st, err := h.state(ctx)
	if err != nil {
		return nil, err
	}
	p := responsePolicy(st.policy)
	if scans(p) {
		out, err := h.scan(ctx, st, "response", body, p, nil, st.respMask())
		if err != nil {
			return nil, err
		}
		body = out
	}
	if st.policy.Reversible {
		body = restoreJSON(body, st.mask)
	}
	return body, nil
}

// state returns the request's guard state, resolving its policy once. It
// works without Middleware too (then no skip header is honoured).
func (h *Hooks) state(ctx context.Context) (*reqState, error) {
	st := fromContext(ctx)
	if st == nil {
		st = &reqState{}
	}
	st.once.Do(func() { st.err = h.resolve(ctx, st) })
	return st, st.err
}

// resolve fixes the request's policy: the key's settings over its
// tenant's, minus the families the skip header turned off.
func (h *Hooks) resolve(ctx context.Context, st *reqState) error {
	id := identity.FromContext(ctx)
	if id == nil {
		return apierr.Unauthorized("authentication required")
	}
	var settings string
	if h.keys != nil {
		s, err := h.keys(ctx, id)
		if err != nil {
			return apierr.Unavailable("guardrail_unavailable", "the guardrail policy could not be loaded; the request was refused", 0).WithCause(err)
		}
		settings = s
	}
	p, err := h.policies.get(id.Tenant, settings, h.tenant)
	if err != nil {
		return apierr.Unavailable("guardrail_unavailable", "the guardrail policy of this key is invalid; the request was refused", 0).WithCause(err)
	}
	st.policy = p.Without(st.skip...)
	st.mask = guard.NewMask(p.Reversible)
	return nil
}

// allOff reports whether a policy does nothing at all, so the scan can be
// skipped.
func allOff(p guard.Policy) bool {
	return p.PII == guard.Off && p.Secrets == guard.Off && p.Injection == guard.Off && p.Unscannable == guard.Off
}

// responsePolicy is what applies to a model's answer: PII and secrets
// only. Injection detection reads what goes to a model, and images a model
// returns are not refused.
func responsePolicy(p guard.Policy) guard.Policy {
	p.Injection, p.Unscannable, p.Reversible = guard.Off, guard.Off, false
	return p
}

// scans reports whether a response policy has any detector on.
func scans(p guard.Policy) bool { return p.PII != guard.Off || p.Secrets != guard.Off }

// trustFor picks the trust function of a dialect's request body.
func trustFor(d apierr.Dialect, body []byte) func(string) guard.Trust {
	switch d {
	case apierr.Anthropic:
		return guard.AnthropicMessagesTrust(body)
	case apierr.Gemini:
		return geminiTrust
	}
	if gjson.GetBytes(body, "messages").Exists() {
		return guard.OpenAIChatTrust(body)
	}
	// Embeddings, completions and other bodies without chat turns: the
	// input is the caller's, so untrusted.
	return nil
}

// geminiTrust marks every turn of "contents" (user and model turns are
// both written by the client) untrusted; systemInstruction and tool
// declarations are the operator's.
func geminiTrust(path string) guard.Trust {
	if strings.HasPrefix(path, "contents.") {
		return guard.Untrusted
	}
	return guard.Trusted
}

// publicError gives a guard error its client-visible face: the family and
// type of the guardrail, never the value.
func publicError(err error, phase string) *apierr.Error {
	var be *guard.BlockedError
	switch {
	case errors.As(err, &be):
		msg := fmt.Sprintf("the %s was blocked by the %s guardrail (%s", phase, be.Family, be.Type)
		if p := safePath(be.Path); p != "" {
			msg += " in " + p
		}
		status := http.StatusBadRequest
		if phase == "response" {
			status = http.StatusForbidden
		}
		return apierr.New(status, "guardrail_blocked", msg+")").WithCause(fmt.Errorf("guard %s: %s/%s", phase, be.Family, be.Type))
	case errors.Is(err, guard.ErrTooDeep): // an ErrInvalidJSON too: first
		return apierr.BadRequest("invalid_request_error",
			fmt.Sprintf("the %s body is nested more than %d levels deep", phase, guard.MaxDepth)).WithCause(err)
	case errors.Is(err, guard.ErrInvalidJSON):
		return apierr.BadRequest("invalid_request_error", "the "+phase+" body is not valid JSON").WithCause(err)
	}
	return apierr.Unavailable("guardrail_unavailable",
		"a guardrail could not complete its scan of the "+phase+"; it was refused", 0).WithCause(err)
}

// policyCache memoises parsed policies by tenant and key settings, so a
// request costs a map lookup. It is bounded by dropping everything when
// full (policies are cheap to rebuild). Safe for concurrent use.
type policyCache struct {
	mu sync.RWMutex
	m  map[policyKey]guard.Policy
}

// policyKey is a pair, not a joined string: a lookup allocates nothing.
type policyKey struct{ tenant, settings string }

// maxPolicies bounds the cache: one entry per distinct (tenant, settings).
const maxPolicies = 4096

func (c *policyCache) get(tenant, settings string, base func(string) (guard.Policy, error)) (guard.Policy, error) {
	k := policyKey{tenant, settings}
	c.mu.RLock()
	p, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	tp, err := base(tenant)
	if err != nil {
		return guard.Policy{}, err
	}
	if p, err = Overlay(tp, settings); err != nil {
		return guard.Policy{}, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxPolicies {
		c.m = map[policyKey]guard.Policy{}
	}
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}

// Overlay applies settings (guard.ParsePolicy syntax) on top of base,
// setting by setting: a key with "pii=redact" keeps its tenant's secrets
// and injection actions. The result is validated like ParsePolicy's.
func Overlay(base guard.Policy, settings string) (guard.Policy, error) {
	if strings.TrimSpace(settings) == "" {
		return base, nil
	}
	// Strict first: unknown, repeated or bad settings fail here.
	if _, err := guard.ParsePolicy(settings); err != nil {
		return guard.Policy{}, err
	}
	keys := map[string]string{}
	for _, item := range strings.Split(settings, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	items := strings.Split(base.String(), ",")
	for i, item := range items {
		k, _, _ := strings.Cut(item, "=")
		if v, ok := keys[k]; ok {
			items[i] = k + "=" + v
		}
	}
	return guard.ParsePolicy(strings.Join(items, ","))
}

// ErrInvalidSettings is wrapped by Settings errors.
var ErrInvalidSettings = errors.New("invalid guard settings")

// Settings validates a key's guard settings ("pii=redact,secrets=block")
// strictly (guard.ParsePolicy's rules) and returns them in canonical form:
// trimmed, lower-case, only what was set, so the key keeps inheriting every
// other setting from its tenant. "" (no own settings) is valid. The error
// wraps ErrInvalidSettings and guard.ErrInvalidPolicy.
func Settings(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	if _, err := guard.ParsePolicy(s); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidSettings, err)
	}
	items := strings.Split(s, ",")
	for i, item := range items {
		k, v, _ := strings.Cut(item, "=")
		items[i] = strings.ToLower(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
	}
	return strings.Join(items, ","), nil
}
