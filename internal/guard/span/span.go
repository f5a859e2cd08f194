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
// far into it, and keeps the groups that hold a wanted span. Groups are
// written over spans already read.
func merge(spans []Span, rank func(Span) int) []Span {
	f := folder{out: spans[:0]}
	for _, s := range spans {
		f.add(s, rankOf(s, rank))
	}
	return f.flush()
}

// rankOf is rank(s), 1 for a nil rank.
func rankOf(s Span, rank func(Span) int) int {
	if rank == nil {
		return 1
	}
	return rank(s)
}

// folder folds spans, given in Resolve's order, into groups. The label is
// chosen among the spans as detected (best), not the merged extents, so
// that the order of folding does not change which wins. It is told each
// span's rank rather than holding the rank function, which would then
// escape: the engine's is a method value, allocated wherever it escapes.
type folder struct {
	out         []Span
	group, best Span
	top         int // best's rank
	open        bool
}

// add folds s, of rank r.
func (f *folder) add(s Span, r int) {
	if f.open && s.Start < f.group.End {
		f.group.End = max(f.group.End, s.End)
		if r > f.top || r == f.top && better(s, f.best) {
			f.best, f.top = s, r
		}
		return
	}
	f.flush()
	f.group, f.best, f.top, f.open = s, s, r, true
}

// flush ends the open group, keeping it if it holds a wanted span, and
// returns the groups kept.
func (f *folder) flush() []Span {
	if f.open && f.top > 0 {
		f.best.Start, f.best.End = f.group.Start, f.group.End
		f.out = append(f.out, f.best)
	}
	f.open = false
	return f.out
}

// ResolveLists is ResolveRanked of the spans of all the lists together,
// in a new slice: the lists are left as they are (a detector's output may
// be a cached verdict, shared). When each list is sorted, as a detector's
// output is, they are read in one merged pass in Resolve's order (on equal
// extents, the earlier list's span first, as the stable sort of their
// concatenation has it), and only the groups kept are written: a text
// dense with unwanted spans (confidence 0) costs no copy of them.
func ResolveLists(rank func(Span) int, lists ...[]Span) []Span {
	wanted, total := 0, 0
	for _, l := range lists {
		if !inOrder(l) {
			return ResolveRanked(slices.Concat(lists...), rank)
		}
		total += len(l)
		for _, s := range l {
			if rankOf(s, rank) > 0 {
				wanted++
			}
		}
	}
	if wanted == 0 {
		return nil
	}
	// A group kept holds a wanted span, and no two groups share one.
	f := folder{out: make([]Span, 0, wanted)}
	var buf [4]int // where each list is read next; two lists is the usual
	heads := buf[:]
	if len(lists) > len(buf) {
		heads = make([]int, len(lists))
	}
	for range total {
		k, next := -1, Span{}
		for i, l := range lists {
			if h := heads[i]; h < len(l) && (k < 0 || before(l[h], next)) {
				k, next = i, l[h]
			}
		}
		f.add(next, rankOf(next, rank))
		heads[k]++
	}
	return f.flush()
}

// before reports whether a comes before b in Resolve's order: by start,
// then the longer first.
func before(a, b Span) bool {
	return a.Start < b.Start || a.Start == b.Start && a.End > b.End
}

// inOrder reports spans in Resolve's order.
func inOrder(spans []Span) bool {
	for i := 1; i < len(spans); i++ {
		if before(spans[i], spans[i-1]) {
			return false
		}
	}
	return true
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
