// Package stream redacts PII and secrets in streamed text (a model's
// response arriving in chunks) with a hold-back window: the trailing text
// that could still become part of a detection is kept until the next chunk
// or Flush, so a card number or key split across chunks is still redacted.
// The concatenation of everything emitted equals Redact applied to the
// whole text, which the package's fuzz test checks for random chunkings.
package stream

import (
	"bytes"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// MinHoldBack is the smallest hold-back the redactor uses. It exceeds the
// longest detection that can span whitespace (a printed IBAN, a formatted
// phone or card number), so such a detection never straddles what was
// already emitted. Detections without whitespace are held whole anyway.
const MinHoldBack = 128

// contextLen is how much already-emitted text is kept as left context for
// detectors that look back (a "password =" name, a "phone:" cue).
const contextLen = 128

// pemEndLen bounds the length of a PEM END line, the overlap kept when
// looking for one in a new chunk.
const pemEndLen = 64

// Redact applies p's PII and secrets actions to a whole text: the batch
// reference the streaming redactor matches. A block action returns a
// *guard.BlockedError.
func Redact(text string, p guard.Policy, m *guard.Mask) (string, []guard.Finding, error) {
	var f []guard.Finding
	out, err := apply(text, guard.Spans(text, p), 0, len(text), p, m, &f)
	return out, f, err
}

// apply rewrites text[from:to] with the redact-action spans inside it.
func apply(text string, spans []span.Span, from, to int, p guard.Policy, m *guard.Mask, f *[]guard.Finding) (string, error) {
	var b strings.Builder
	last := from
	for _, s := range spans {
		if s.Start < from || s.End > to {
			continue
		}
		a := action(p, s.Family)
		*f = append(*f, guard.Finding{Family: s.Family, Type: s.Type, Action: a})
		switch a {
		case guard.Block:
			return "", &guard.BlockedError{Family: s.Family, Type: s.Type}
		case guard.Redact:
			b.WriteString(text[last:s.Start])
			b.WriteString(m.Placeholder(s.Type, text[s.Start:s.End]))
			last = s.End
		}
	}
	b.WriteString(text[last:to])
	return b.String(), nil
}

func action(p guard.Policy, family string) guard.Action {
	if family == guard.FamilyPII {
		return p.PII
	}
	return p.Secrets
}

// Redactor is the streaming form of Redact. It is not safe for concurrent
// use: one stream, one goroutine.
type Redactor struct {
	p        guard.Policy
	hold     int
	mask     *guard.Mask
	ctx      string // emitted text kept as left context
	buf      []byte // text received but not yet emitted (a byte slice so appends stay amortised O(1))
	space    int    // index of the first whitespace byte in buf, or -1
	openPEM  bool   // the last scan ended inside a PEM block without END
	findings []guard.Finding
	err      error
}

// NewRedactor returns a redactor for p that holds back at least holdBack
// bytes (MinHoldBack if smaller) and numbers placeholders in a fresh mask.
func NewRedactor(p guard.Policy, holdBack int) *Redactor {
	return NewRedactorMask(p, holdBack, guard.NewMask(p.Reversible))
}

// NewRedactorMask is NewRedactor sharing the request's mask, so a value
// redacted in the request keeps its placeholder in the response.
func NewRedactorMask(p guard.Policy, holdBack int, m *guard.Mask) *Redactor {
	return &Redactor{p: p, hold: max(holdBack, MinHoldBack), mask: m, space: -1}
}

// Findings returns what the redactor has detected so far (never values).
func (r *Redactor) Findings() []guard.Finding { return r.findings }

// Write adds a chunk and returns the text that is now safe to emit. After
// an error (a block) every call returns the same error.
func (r *Redactor) Write(chunk string) (string, error) {
	if r.err != nil {
		return "", r.err
	}
	r.buf = append(r.buf, chunk...)
	// A cut needs whitespace at least hold bytes before the end; without
	// one nothing can be emitted, so skip the scan. This keeps a long
	// unbroken token fed in small chunks from costing a rescan per chunk.
	if r.space < 0 {
		r.space = indexSpace(chunk, len(r.buf)-len(chunk))
	}
	if r.space < 0 || r.space+1 > len(r.buf)-r.hold {
		return "", nil
	}
	// An open PEM block holds everything after its BEGIN line until its END
	// line arrives; rescanning the growing block on every chunk would be
	// quadratic, so wait for a chunk that can complete the END line.
	if r.openPEM && !bytes.Contains(r.buf[max(0, len(r.buf)-len(chunk)-pemEndLen):], []byte("-----END ")) {
		return "", nil
	}
	full := r.ctx + string(r.buf)
	spans := guard.Spans(full, r.p)
	r.openPEM = false
	for _, s := range spans {
		if s.End == len(full) && s.Type == "PRIVATE_KEY" {
			r.openPEM = true
		}
	}
	cut := safeCut(full, len(r.ctx), len(full)-r.hold, spans)
	if cut <= len(r.ctx) {
		return "", nil
	}
	return r.emit(full, spans, cut)
}

// Flush emits everything still held. The redactor must not be used after.
func (r *Redactor) Flush() (string, error) {
	if r.err != nil {
		return "", r.err
	}
	full := r.ctx + string(r.buf)
	return r.emit(full, guard.Spans(full, r.p), len(full))
}

func (r *Redactor) emit(full string, spans []span.Span, cut int) (string, error) {
	out, err := apply(full, spans, len(r.ctx), cut, r.p, r.mask, &r.findings)
	if err != nil {
		r.err = err
		return "", err
	}
	r.ctx = contextTail(full[:cut])
	r.buf = []byte(full[cut:])
	r.space = indexSpace(full[cut:], 0)
	return out, nil
}

// safeCut returns the largest position <= want (and > floor to be useful)
// that lies just after whitespace and outside every span, and that is not
// after the start of a span reaching the end of the text (which may still
// grow, like a PEM block without its END line yet).
func safeCut(full string, floor, want int, spans []span.Span) int {
	if want <= floor {
		return floor
	}
	for _, s := range spans {
		if s.End == len(full) && s.Start < want {
			want = s.Start
		}
	}
	for {
		for want > floor && !isSpace(full[want-1]) {
			want--
		}
		moved := false
		for _, s := range spans {
			if s.Start < want && want < s.End {
				want, moved = s.Start, true
			}
		}
		if !moved || want <= floor {
			return max(want, floor)
		}
	}
}

// contextTail keeps the last contextLen bytes of emitted text, widened
// back to a whitespace boundary so detectors see whole tokens.
func contextTail(s string) string {
	if len(s) <= contextLen {
		return s
	}
	i := len(s) - contextLen
	lo := max(0, i-256)
	for i > lo && !isSpace(s[i-1]) {
		i--
	}
	return s[i:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// indexSpace returns off plus the index of the first whitespace byte of s,
// or -1.
func indexSpace(s string, off int) int {
	if i := strings.IndexAny(s, " \n\t\r"); i >= 0 {
		return off + i
	}
	return -1
}
