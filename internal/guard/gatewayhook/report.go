package gatewayhook

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// Registerer is the part of a Prometheus registry the hooks use.
type Registerer = prometheus.Registerer

// metrics are the guardrail counters. A nil *metrics counts nothing.
type metrics struct {
	detections *prometheus.CounterVec
	skips      *prometheus.CounterVec
}

func newMetrics(reg Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_guard_detections_total",
			Help: "Guardrail detections by family, type, action and phase (request, response, stream)."},
			[]string{"family", "type", "action", "phase"}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_guard_skips_total",
			Help: "Uses of the x-bulwark-guard-skip header by outcome (success, denied, failure)."},
			[]string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.detections, m.skips} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) detected(phase string, fs []guard.Finding) {
	if m == nil {
		return
	}
	for _, f := range fs {
		m.detections.WithLabelValues(f.Family, f.Type, string(f.Action), phase).Inc()
	}
}

func (m *metrics) skip(outcome string) {
	if m != nil {
		m.skips.WithLabelValues(outcome).Inc()
	}
}

// maxListed bounds the findings one audit event lists; the count is
// always exact.
const maxListed = 32

// report counts findings and writes one audit event for the phase when
// there are any (or the phase was refused). It returns an error only when
// the audit entry could not be written, which refuses the request: a
// detection that cannot be recorded must not pass silently.
func (h *Hooks) report(ctx context.Context, st *reqState, phase string, fs []guard.Finding, scanErr error) error {
	h.metrics.detected(phase, fs)
	if len(fs) == 0 && scanErr == nil {
		return nil
	}
	id := identity.FromContext(ctx)
	ev := audit.Event{Action: "guard." + phase, Outcome: audit.OutcomeSuccess, RequestID: reqid.FromContext(ctx),
		Details: map[string]string{"findings": strconv.Itoa(len(fs)), "list": list(fs)}}
	if id != nil {
		ev.Tenant, ev.Actor = id.Tenant, id.KeyID
	}
	if len(st.skip) > 0 {
		ev.Details["skipped"] = strings.Join(st.skip, ",")
	}
	var be *guard.BlockedError
	switch {
	case errors.As(scanErr, &be):
		ev.Outcome, ev.Target = audit.OutcomeDenied, be.Family+"/"+be.Type
	case scanErr != nil:
		ev.Outcome = audit.OutcomeFailure
		ev.Details["error"] = "detector failed"
	}
	if err := h.audit.Append(context.WithoutCancel(ctx), ev); err != nil {
		return apierr.Unavailable("audit_unavailable", "the guardrail findings could not be audited; the request was refused", 0).WithCause(err)
	}
	return nil
}

// list renders findings as "family/TYPE@path:action" items, never values.
func list(fs []guard.Finding) string {
	var b strings.Builder
	for i, f := range fs {
		if i == maxListed {
			b.WriteString(";+" + strconv.Itoa(len(fs)-maxListed) + " more")
			break
		}
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(f.Family + "/" + f.Type)
		if p := safePath(f.Path); p != "" {
			b.WriteString("@" + p)
		}
		b.WriteString(":" + string(f.Action))
	}
	return b.String()
}

// fieldName is a path segment that can be shown as is: a short identifier
// such as "messages", "content" or "tool_calls".
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,31}$`)

// strictAll detects every PII and secret type at the lowest threshold, to
// vet path segments.
var strictAll = guard.Policy{PII: guard.Redact, Secrets: guard.Redact, Injection: guard.Off,
	PIIThreshold: 0.01, SecretsThreshold: 0.01, InjectionThreshold: 1, InjectionScope: guard.ScopeUntrusted, Unscannable: guard.Off}

// safePath returns a finding's JSON path with every segment that could
// carry a value replaced by "*". Object keys of pass-through fields are
// chosen by the client, so a key can itself be an email or a token; only
// array indexes and short identifiers in which no detector finds anything
// are kept.
func safePath(p string) string {
	p, key := strings.CutSuffix(p, " (key)")
	if p == "" {
		return ""
	}
	segs := splitPath(p)
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil {
			continue
		}
		if !fieldName.MatchString(s) || len(guard.Spans(s, strictAll)) > 0 {
			segs[i] = "*"
		}
	}
	out := strings.Join(segs, ".")
	if key {
		out += " (key)"
	}
	return out
}

// splitPath splits a gjson path at its unescaped dots; an escaped dot
// ("\\.") stays inside its segment, backslash included.
func splitPath(p string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '.':
			segs = append(segs, p[start:i])
			start = i + 1
		}
	}
	return append(segs, p[start:])
}
