package guard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Action is what a guardrail does with a detection.
type Action string

// Actions, from weakest to strongest.
const (
	Off    Action = "off"    // do not run the detector
	Log    Action = "log"    // report a Finding, change nothing
	Redact Action = "redact" // replace the span with a typed placeholder
	Block  Action = "block"  // refuse the request with ErrBlocked
)

func (a Action) valid() bool { return a == Off || a == Log || a == Redact || a == Block }

// Scope says which text the injection detector reads.
type Scope string

// Injection scopes.
const (
	// ScopeUntrusted scans user turns, tool results and fetched content,
	// not the operator's system prompt or tool descriptions.
	ScopeUntrusted Scope = "untrusted"
	// ScopeAll scans every string, trusted or not.
	ScopeAll Scope = "all"
)

// DefaultThreshold is the minimum confidence a detection needs when a
// policy does not set one. For injection it is the operating point tuned on
// the evaluation corpora (see docs/guardrails.md).
const DefaultThreshold = 0.5

// Policy is a per-tenant or per-key guardrail configuration. The zero value
// is not valid; start from DefaultPolicy or ParsePolicy. Policy is a plain
// value, safe to copy and share.
type Policy struct {
	PII, Secrets, Injection Action
	// Thresholds are minimum confidences in (0, 1]; detections below are
	// ignored.
	PIIThreshold, SecretsThreshold, InjectionThreshold float64
	InjectionScope                                     Scope
	// Unscannable applies to images, audio, files and binary documents:
	// off or log lets them through, block refuses the request.
	Unscannable Action
	// Reversible keeps placeholder-to-original pairs in the request's Mask
	// so the response can be restored. The pairs live in memory only.
	Reversible bool
}

// DefaultPolicy is the policy of a new tenant: pii=log, secrets=redact,
// injection=log. It is never all off.
func DefaultPolicy() Policy {
	return Policy{
		PII: Log, Secrets: Redact, Injection: Log,
		PIIThreshold: DefaultThreshold, SecretsThreshold: DefaultThreshold, InjectionThreshold: DefaultThreshold,
		InjectionScope: ScopeUntrusted, Unscannable: Log,
	}
}

// ErrInvalidPolicy is wrapped by every ParsePolicy and Validate error.
var ErrInvalidPolicy = errors.New("guard: invalid policy")

// ParsePolicy reads a comma-separated list of key=value settings on top of
// DefaultPolicy, for example "pii=redact,secrets=block,injection=block".
// Keys: pii, secrets, injection (off|log|redact|block), unscannable
// (off|log|block), injection_scope (untrusted|all), reversible
// (true|false), pii_threshold, secrets_threshold, injection_threshold (a
// number in (0, 1]). Unknown keys, repeated keys, empty items and bad values
// are errors. The empty string yields DefaultPolicy.
func ParsePolicy(s string) (Policy, error) {
	p := DefaultPolicy()
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Policy{}, fmt.Errorf("%w: %q is not key=value", ErrInvalidPolicy, clip(item))
		}
		if seen[k] {
			return Policy{}, fmt.Errorf("%w: %q set twice", ErrInvalidPolicy, clip(k))
		}
		seen[k] = true
		if err := p.set(k, v); err != nil {
			return Policy{}, err
		}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func (p *Policy) set(k, v string) error {
	action := func(dst *Action) error {
		a := Action(strings.ToLower(v))
		if !a.valid() {
			return fmt.Errorf("%w: %s=%q: want off, log, redact or block", ErrInvalidPolicy, k, clip(v))
		}
		*dst = a
		return nil
	}
	threshold := func(dst *float64) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return fmt.Errorf("%w: %s=%q: want a number in (0, 1]", ErrInvalidPolicy, k, clip(v))
		}
		*dst = f
		return nil
	}
	switch k {
	case "pii":
		return action(&p.PII)
	case "secrets":
		return action(&p.Secrets)
	case "injection":
		return action(&p.Injection)
	case "unscannable":
		return action(&p.Unscannable)
	case "injection_scope":
		p.InjectionScope = Scope(strings.ToLower(v))
		return nil
	case "reversible":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: reversible=%q: want true or false", ErrInvalidPolicy, clip(v))
		}
		p.Reversible = b
		return nil
	case "pii_threshold":
		return threshold(&p.PIIThreshold)
	case "secrets_threshold":
		return threshold(&p.SecretsThreshold)
	case "injection_threshold":
		return threshold(&p.InjectionThreshold)
	}
	return fmt.Errorf("%w: unknown setting %q", ErrInvalidPolicy, clip(k))
}

// Validate reports whether every field holds a known value.
func (p Policy) Validate() error {
	// Arrays, not map literals: Validate runs on every scan, and ranging
	// over a map literal builds the map each time.
	actions := [...]struct {
		name string
		a    Action
	}{{"pii", p.PII}, {"secrets", p.Secrets}, {"injection", p.Injection}}
	for _, x := range actions {
		if !x.a.valid() {
			return fmt.Errorf("%w: %s action %q", ErrInvalidPolicy, x.name, clip(string(x.a)))
		}
	}
	if p.Unscannable != Off && p.Unscannable != Log && p.Unscannable != Block {
		return fmt.Errorf("%w: unscannable must be off, log or block", ErrInvalidPolicy)
	}
	if p.InjectionScope != ScopeUntrusted && p.InjectionScope != ScopeAll {
		return fmt.Errorf("%w: injection_scope must be untrusted or all", ErrInvalidPolicy)
	}
	thresholds := [...]struct {
		name string
		t    float64
	}{{"pii", p.PIIThreshold}, {"secrets", p.SecretsThreshold}, {"injection", p.InjectionThreshold}}
	for _, x := range thresholds {
		if !(x.t > 0 && x.t <= 1) {
			return fmt.Errorf("%w: %s threshold must be in (0, 1]", ErrInvalidPolicy, x.name)
		}
	}
	return nil
}

// String renders the policy in ParsePolicy's syntax, every key present.
func (p Policy) String() string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	return fmt.Sprintf("pii=%s,secrets=%s,injection=%s,unscannable=%s,injection_scope=%s,reversible=%t,pii_threshold=%s,secrets_threshold=%s,injection_threshold=%s",
		p.PII, p.Secrets, p.Injection, p.Unscannable, p.InjectionScope, p.Reversible, f(p.PIIThreshold), f(p.SecretsThreshold), f(p.InjectionThreshold))
}

// clip bounds user input echoed in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
