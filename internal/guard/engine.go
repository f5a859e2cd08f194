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
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/injection"
	"github.com/bulwarkhq/bulwark/internal/guard/pii"
	"github.com/bulwarkhq/bulwark/internal/guard/secrets"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
	"github.com/bulwarkhq/bulwark/internal/guard/verdict"
	"github.com/bulwarkhq/bulwark/internal/identity"
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
	Path   string // gjson-style path of the JSON string ("messages.1.content"); "" for plain text; "…" past the scan's path budget (see ScanJSON)
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
	// The detectors, fields so tests can make them fail.
	pii, secrets func(text string) []Span
	inj          func(text string) injection.Result
	// cache remembers verdicts of texts at least minCached bytes long; nil
	// remembers nothing.
	cache *verdict.Cache
}

// DefaultCacheBytes is the verdict cache budget New uses unless told
// otherwise: the clean verdicts of about 200,000 texts (all three families
// of a text in one 72-byte slot plus its index, none of it scanned by the
// GC), fewer when verdicts hold spans.
const DefaultCacheBytes = 16 << 20

// minCached is the shortest text whose verdicts are cached: below it the
// detectors cost about as much as the keyed hash and the lookup.
const minCached = 16

// Option configures an Engine.
type Option func(*Engine)

// WithVerdictCache sets the verdict cache budget in bytes; 0 disables the
// cache. Cached and uncached scans return the same result: the cache only
// saves the detectors' CPU on text already scanned (chat clients resend the
// whole conversation every turn).
func WithVerdictCache(bytes int) Option {
	return func(e *Engine) { e.cache = verdict.New(bytes) }
}

// New returns an engine reporting to obs (which may be nil), with a verdict
// cache of DefaultCacheBytes unless an option says otherwise. It fails if
// the embedded injection model cannot be loaded: start-up must stop rather
// than run without the detector.
func New(obs Observer, opts ...Option) (*Engine, error) {
	inj, err := injection.Default()
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	e := &Engine{obs: obs, pii: pii.Detect, secrets: secrets.Detect, inj: inj.Detect, cache: verdict.New(DefaultCacheBytes)}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// rank weighs a span for span.ResolveRanked: 0 below its family's
// threshold, else by its family's action (log 1, redact 2, block 3), so
// that a group of overlapping spans is handled as its strictest member's
// family says. Under pii=redact,secrets=log an e-mail address overlapping
// a more confident logged secret is still redacted.
func (p Policy) rank(s Span) int {
	threshold := p.PIIThreshold
	if s.Family == FamilySecrets {
		threshold = p.SecretsThreshold
	}
	if s.Confidence < threshold {
		return 0
	}
	switch p.action(s.Family) {
	case Block:
		return 3
	case Redact:
		return 2
	case Log:
		return 1
	}
	return 0
}

// Spans returns the PII and secret spans in text that the policy's
// thresholds keep (the streaming redactor uses it). Spans that overlap are
// merged (span.ResolveRanked), a span below its threshold included, so
// that redacting the text leaves nothing a second scan would find.
func Spans(text string, p Policy) []Span {
	var piiSpans, secretSpans []Span
	if p.PII != Off {
		piiSpans = pii.Detect(text)
	}
	if p.Secrets != Off {
		secretSpans = secrets.Detect(text)
	}
	return span.ResolveLists(p.rank, piiSpans, secretSpans)
}

// lookup is one string's view of the verdict cache: the digest is computed
// once, on first use, and shared by the three families.
type lookup struct {
	e      *Engine
	text   string
	part   string
	key    verdict.Key
	hashed bool
}

func (l *lookup) cached() bool { return l.e.cache != nil && len(l.text) >= minCached }

func (l *lookup) digest() verdict.Key {
	if !l.hashed {
		l.key, l.hashed = l.e.cache.Key(l.part, l.text), true
	}
	return l.key
}

// spans returns detect's output for the text, from the cache when it holds
// it. A detector that panics stores nothing.
func (l *lookup) spans(fam verdict.Family, detect func(string) []Span) []Span {
	if !l.cached() {
		return detect(l.text)
	}
	k := l.digest()
	if v, ok := l.e.cache.Get(k, fam); ok {
		return v.Spans
	}
	s := detect(l.text)
	l.e.cache.Put(k, fam, verdict.Verdict{Spans: s})
	return s
}

// injection returns the injection verdict for the text, cached likewise.
func (l *lookup) injection() injection.Result {
	if !l.cached() {
		return l.e.inj(l.text)
	}
	k := l.digest()
	if v, ok := l.e.cache.Get(k, verdict.Injection); ok {
		return injection.Result{Score: v.Score, Type: v.Type}
	}
	r := l.e.inj(l.text)
	l.e.cache.Put(k, verdict.Injection, verdict.Verdict{Score: r.Score, Type: r.Type})
	return r
}

// detectSpans runs the PII and secret detectors the policy enables and
// keeps spans at or above the thresholds, as Spans does. Cached span
// slices are only read (span.ResolveLists writes a new slice), and spans
// no threshold keeps are not copied: a text dense with them cost a copy
// of each.
func (l *lookup) detectSpans(p Policy) []Span {
	var piiSpans, secretSpans []Span
	if p.PII != Off {
		piiSpans = l.spans(verdict.PII, l.e.pii)
	}
	if p.Secrets != Off {
		secretSpans = l.spans(verdict.Secrets, l.e.secrets)
	}
	return span.ResolveLists(p.rank, piiSpans, secretSpans)
}

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
	st := state{part: partition(ctx)}
	out, err := e.guarded(ctx, p, &st, func() (string, error) {
		return e.scanString(text, &site{}, trust, p, m, &st)
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
	part     string // verdict cache partition of the caller
}

// partition names the caller's share of the verdict cache: its tenant and
// key id, so one caller cannot tell by timing whether another scanned a
// text. Callers without an identity share the "" partition.
func partition(ctx context.Context) string {
	id := identity.FromContext(ctx)
	if id == nil {
		return ""
	}
	return id.Tenant + "\x00" + id.KeyID
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

// keySuffix marks a finding's path as an object key's.
const keySuffix = " (key)"

// site is the string scanString reads, as its findings name it: the path
// is written on the first finding and shared by the rest, never per
// string. paths is nil for plain text, whose path is "".
type site struct {
	paths *pathArena
	at    ref
	key   bool // the string is an object key
	path  string
	named bool
}

// name returns the path the string's findings report: its path, marked
// when the string is an object key.
func (s *site) name() string {
	if !s.named {
		s.named = true
		if s.paths != nil {
			s.path = s.paths.finding(s.at, s.key)
		}
	}
	return s.path
}

// scanString runs the enabled detectors over one string, the one where
// names, and returns it with redactions applied.
func (e *Engine) scanString(text string, where *site, trust Trust, p Policy, m *Mask, st *state) (string, error) {
	l := lookup{e: e, text: text, part: st.part}
	spans := l.detectSpans(p)
	// One finding per span: grown once, not by append's quarter (five
	// times the findings of a text that is nothing but phone numbers).
	st.findings = slices.Grow(st.findings, len(spans))
	var b strings.Builder
	last := 0
	for _, s := range spans {
		a := p.action(s.Family)
		e.record(st, Finding{Family: s.Family, Type: s.Type, Path: where.name(), Action: a})
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
	if where.key || p.Injection == Off || trust == Trusted && p.InjectionScope != ScopeAll {
		return out, nil
	}
	r := l.injection()
	if r.Score < p.InjectionThreshold || r.Type == "" {
		return out, nil
	}
	e.record(st, Finding{Family: FamilyInjection, Type: r.Type, Path: where.name(), Action: p.Injection})
	if p.Injection == Redact {
		return m.Placeholder("INJECTION", text), nil
	}
	return out, nil
}
