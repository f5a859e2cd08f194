// Package span defines the typed span every guardrail detector returns and
// the overlap resolution the redactors share. It has no dependencies so that
// the detector packages and the policy engine can all import it.
package span

import (
	"cmp"
	"slices"
)

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
// The input slice is reused. Resolve runs in O(n log n), and in O(n)
// without allocating when the spans are already sorted and disjoint (the
// common case: one detector's spans of one text).
func Resolve(spans []Span) []Span {
	if len(spans) < 2 || disjoint(spans) {
		return spans
	}
	// A stable sort in the same order as before keeps which of two equal
	// spans wins unchanged.
	slices.SortStableFunc(spans, func(a, b Span) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(b.End, a.End)
	})
	return keepBest(keepBest(spans))
}

// disjoint reports spans already in ascending, non-overlapping order, which
// Resolve would return unchanged.
func disjoint(spans []Span) bool {
	for i := 1; i < len(spans); i++ {
		a, b := spans[i-1], spans[i]
		sorted := a.Start < b.Start || a.Start == b.Start && a.End >= b.End
		if !sorted || b.Start < a.End {
			return false
		}
	}
	return true
}

// keepBest drops each span that overlaps its kept predecessor, keeping the
// better of the two. Resolve runs it twice: a replacement may overlap its
// own predecessor, and a second pass restores the invariant without
// re-sorting (replacements only move Start forward).
func keepBest(spans []Span) []Span {
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
	return out
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
