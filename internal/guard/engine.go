// Package guard is Bulwark's guardrail engine: it runs the PII, secret and
// prompt-injection detectors over every string of a request or response,
// applies a per-tenant/per-key Policy (off, log, redact or block per
// family) and reports Findings that name the family, type, JSON path and
// action, never the matched value.
//
// The engine fails closed: a detector that panics, errors or runs past the
// request's deadline refuses the request whenever the policy would redact or
// block. Detectors are linear in their input and have no scanning window, so
// a 5 MB prompt is scanned whole.
package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/injection"
	"github.com/bulwarkhq/bulwark/internal/guard/pii"
	"github.com/bulwarkhq/bulwark/internal/guard/secrets"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Span is a typed detection with byte offsets; see package span.
type Span = span.Span

// Families, re-exported for callers that only import guard.
const (
	FamilyPII         = span.FamilyPII
	FamilySecrets     = span.FamilySecrets
	FamilyInjection   = span.FamilyInjection
	FamilyUnscannable = "unscannable"
	FamilyGuard       = "guard" // the engine itself (detector failure under a log-only policy)
)

// Finding is one detection as the audit log and metrics see it. It never
// holds the matched value.
type Finding struct {
	Family string // pii, secrets, injection or unscannable
	Type   string // EMAIL, OPENAI_KEY, SYSTEM_OVERRIDE, IMAGE_URL, ...
	Path   string // gjson-style path of the JSON string ("messages.1.content"); "" for plain text
	Action Action // what the policy did
}

// ErrBlocked is matched (errors.Is) by every *BlockedError.
var ErrBlocked = errors.New("guard: request blocked")

// ErrDetector means a detector failed (panic, error or deadline) while the
// policy needed its verdict; the request must be refused.
var ErrDetector = errors.New("guard: detector failed")

// BlockedError names the guardrail that refused a request. Its message is
// safe to show a client: it holds the family, type and path, never the value.
type BlockedError struct {
	Family, Type, Path string
}

func (e *BlockedError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("guard: blocked by the %s guardrail (%s)", e.Family, e.Type)
	}
	return fmt.Sprintf("guard: blocked by the %s guardrail (%s in %s)", e.Family, e.Type, e.Path)
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// Observer is told about every detection, for metrics. Implementations must
// be safe for concurrent use and must not block.
type Observer interface {
	Detected(family, typ, action string)
}

// Trust says whether a string came from the operator (system prompt, tool
// descriptions) or from a user, tool result or fetched page.
type Trust int

// Trust levels.
const (
	Untrusted Trust = iota
	Trusted
)

// Engine runs the detectors under a policy. It is immutable after New and
// safe for concurrent use.
type Engine struct {
	obs Observer
	inj *injection.Detector
	// detect is the PII+secrets detector; a field so tests can make it fail.
	detect func(text string, p Policy) []Span
}

// New returns an engine reporting to obs (which may be nil). It fails if
// the embedded injection model cannot be loaded: start-up must stop rather
// than run without the detector.
func New(obs Observer) (*Engine, error) {
	inj, err := injection.Default()
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	return &Engine{obs: obs, inj: inj, detect: detectSpans}, nil
}

// detectSpans runs the PII and secret detectors the policy enables and
// keeps spans at or above the thresholds.
func detectSpans(text string, p Policy) []Span {
	var out []Span
	if p.PII != Off {
		for _, s := range pii.Detect(text) {
			if s.Confidence >= p.PIIThreshold {
				out = append(out, s)
			}
		}
	}
	if p.Secrets != Off {
		for _, s := range secrets.Detect(text) {
			if s.Confidence >= p.SecretsThreshold {
				out = append(out, s)
			}
		}
	}
	return span.Resolve(out)
}

// Spans returns the PII and secret spans in text that the policy's
// thresholds keep (the streaming redactor uses it).
func Spans(text string, p Policy) []Span { return detectSpans(text, p) }

func (p Policy) action(family string) Action {
	switch family {
	case FamilyPII:
		return p.PII
	case FamilySecrets:
		return p.Secrets
	case FamilyInjection:
		return p.Injection
	case FamilyUnscannable:
		return p.Unscannable
	}
	return Block
}

// strict reports whether a detector failure must refuse the request.
func (p Policy) strict() bool {
	for _, a := range []Action{p.PII, p.Secrets, p.Injection} {
		if a == Redact || a == Block {
			return true
		}
	}
	return false
}

// ScanText applies the policy to one piece of text (for example a
// non-JSON response body). trust says whether injection detection applies.
// m numbers placeholders; pass the request's mask, or nil for a fresh one.
func (e *Engine) ScanText(ctx context.Context, text string, p Policy, trust Trust, m *Mask) (string, []Finding, error) {
	if m == nil {
		m = NewMask(p.Reversible)
	}
	var st state
	out, err := e.guarded(ctx, p, &st, func() (string, error) {
		return e.scanString(text, "", false, trust, p, m, &st)
	})
	switch {
	case errors.Is(err, errLenient):
		return text, st.findings, nil
	case err != nil:
		return "", st.findings, err
	case st.block != nil:
		return "", st.findings, st.block
	}
	return out, st.findings, nil
}

// state accumulates findings and the first block of one scan.
type state struct {
	findings []Finding
	block    *BlockedError
}

func (e *Engine) record(st *state, f Finding) {
	st.findings = append(st.findings, f)
	if e.obs != nil {
		e.obs.Detected(f.Family, f.Type, string(f.Action))
	}
	if f.Action == Block && st.block == nil {
		st.block = &BlockedError{Family: f.Family, Type: f.Type, Path: f.Path}
	}
}

// guarded runs fn, turning a panic or an expired context into ErrDetector
// when the policy is strict. Under a log-only policy a failure is recorded
// as a finding and the input passes unchanged (fn's result is discarded by
// the caller in that case).
func (e *Engine) guarded(ctx context.Context, p Policy, st *state, fn func() (string, error)) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic in detector", ErrDetector)
		}
		if err != nil && !errors.Is(err, ErrInvalidJSON) {
			if !errors.Is(err, ErrDetector) {
				err = fmt.Errorf("%w: %w", ErrDetector, err)
			}
			if !p.strict() {
				e.record(st, Finding{Family: FamilyGuard, Type: "DETECTOR_ERROR", Action: Log})
				err = errLenient
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return fn()
}

// errLenient signals a detector failure that a log-only policy tolerates.
var errLenient = errors.New("guard: detector failed under a log-only policy")

// scanString runs the enabled detectors over one string and returns it with
// redactions applied.
func (e *Engine) scanString(text, path string, key bool, trust Trust, p Policy, m *Mask, st *state) (string, error) {
	spans := e.detect(text, p)
	var b strings.Builder
	last := 0
	for _, s := range spans {
		a := p.action(s.Family)
		e.record(st, Finding{Family: s.Family, Type: s.Type, Path: path, Action: a})
		if a != Redact {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[last:s.Start])
		b.WriteString(m.Placeholder(s.Type, text[s.Start:s.End]))
		last = s.End
	}
	out := text
	if last > 0 {
		b.WriteString(text[last:])
		out = b.String()
	}
	if key || p.Injection == Off || trust == Trusted && p.InjectionScope != ScopeAll {
		return out, nil
	}
	r := e.inj.Detect(text)
	if r.Score < p.InjectionThreshold || r.Type == "" {
		return out, nil
	}
	e.record(st, Finding{Family: FamilyInjection, Type: r.Type, Path: path, Action: p.Injection})
	if p.Injection == Redact {
		return m.Placeholder("INJECTION", text), nil
	}
	return out, nil
}
