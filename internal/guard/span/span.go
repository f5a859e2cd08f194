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

// Resolve sorts spans by position and merges overlaps so that redaction
// rewrites every byte that any span covers, and each byte once: spans that
// overlap become one span from the first start to the last end, with the
// family, type and confidence of the best of them. The best has the higher
// confidence; on a tie the longer wins; secrets win over PII when both are
// equal, because a secret placeholder is the safer rewrite.
//
// Merging, rather than dropping the loser, is what makes redaction stable:
// the part of a losing span outside the winner is still personal data or a
// secret, and left in place it would be found by the next scan of the
// redacted text (a password cut short by an IP address, an e-mail address
// whose local part starts inside a token).
//
// The input slice is reused. Resolve runs in O(n log n), and in O(n)
// without allocating when the spans are already sorted and disjoint (the
// common case: one detector's spans of one text).
func Resolve(spans []Span) []Span {
	return ResolveRanked(spans, nil)
}

// ResolveRanked is Resolve for spans that do not all matter alike. rank
// weighs each span: 0 for one that is not wanted (below a policy's
// threshold), more for one whose family the policy treats more strictly.
// A group of overlapping spans is kept whole when a span in it ranks above
// 0, and labelled by the highest-ranked span (the best of those, as
// Resolve decides, on a tie); a group of unwanted spans is dropped. So an
// unwanted span that overlaps a wanted one is redacted with it (left in
// place, its remainder could be read as another entity by the next scan),
// and a group is handled as strictly as its strictest member asks. A nil
// rank ranks every span 1.
func ResolveRanked(spans []Span, rank func(Span) int) []Span {
	if len(spans) < 2 || disjoint(spans) {
		return filter(spans, rank)
	}
	// A stable sort in the same order as before keeps which of two equal
	// spans wins unchanged.
	slices.SortStableFunc(spans, func(a, b Span) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(b.End, a.End)
	})
	return merge(spans, rank)
}

// filter keeps the wanted spans, in place.
func filter(spans []Span, rank func(Span) int) []Span {
	if rank == nil {
		return spans
	}
	out := spans[:0]
	for _, s := range spans {
		if rank(s) > 0 {
			out = append(out, s)
		}
	}
	return out
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

// merge folds each sorted span that starts before the end of the group so
// far into it, and keeps the groups that hold a wanted span. The label is
// chosen among the spans as detected (best), not the merged extents, so
// that the order of folding does not change which wins. Groups are written
// over spans already read.
func merge(spans []Span, rank func(Span) int) []Span {
	out := spans[:0]
	var (
		group, best Span
		top         int // best's rank
		open        bool
	)
	flush := func() {
		if open && top > 0 {
			best.Start, best.End = group.Start, group.End
			out = append(out, best)
		}
	}
	for _, s := range spans {
		r := 1
		if rank != nil {
			r = rank(s)
		}
		if open && s.Start < group.End {
			group.End = max(group.End, s.End)
			if r > top || r == top && better(s, best) {
				best, top = s, r
			}
			continue
		}
		flush()
		group, best, top, open = s, s, r, true
	}
	flush()
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
