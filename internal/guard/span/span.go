// Package span defines the typed span every guardrail detector returns and
// the overlap resolution the redactors share. It has no dependencies so that
// the detector packages and the policy engine can all import it.
package span

import "sort"

// Detector families.
const (
	FamilyPII       = "pii"
	FamilySecrets   = "secrets"
	FamilyInjection = "injection"
)

// Span is one detection in a text: a family, an entity type such as "EMAIL"
// or "OPENAI_KEY", the byte offsets [Start, End) into the scanned string and
// a confidence in [0, 1]. A Span never carries the matched value: callers
// that need it slice the text they scanned. Span is a plain value, safe to
// copy and share.
type Span struct {
	Family     string
	Type       string
	Start, End int
	Confidence float64
}

// Resolve sorts spans by position and removes overlaps so that redaction can
// rewrite each byte at most once. When two spans overlap, the one with the
// higher confidence wins; on a tie the longer one wins; secrets win over PII
// when both are equal, because a secret placeholder is the safer rewrite.
// The input slice is reused. Resolve runs in O(n log n).
func Resolve(spans []Span) []Span {
	if len(spans) < 2 {
		return spans
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].Start != spans[j].Start {
			return spans[i].Start < spans[j].Start
		}
		return spans[i].End > spans[j].End
	})
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start < out[n-1].End {
			if better(s, out[n-1]) {
				out[n-1] = s
			}
			continue
		}
		out = append(out, s)
	}
	// A replacement may now overlap its predecessor; one more pass keeps the
	// invariant without re-sorting (replacements only move Start forward).
	final := out[:0]
	for _, s := range out {
		if n := len(final); n > 0 && s.Start < final[n-1].End {
			if better(s, final[n-1]) {
				final[n-1] = s
			}
			continue
		}
		final = append(final, s)
	}
	return final
}

func better(a, b Span) bool {
	if a.Confidence != b.Confidence {
		return a.Confidence > b.Confidence
	}
	if la, lb := a.End-a.Start, b.End-b.Start; la != lb {
		return la > lb
	}
	return a.Family == FamilySecrets && b.Family != FamilySecrets
}
