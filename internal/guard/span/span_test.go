package span

import (
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
)

// resolveRef is ResolveRanked written the slow and obvious way, without
// the sorted fast path or the single sweep: spans are grouped by
// repeatedly joining any two groups whose extents overlap, each group is
// labelled by its highest-ranked span (the best, then the first in
// Resolve's order, among equals), groups without a span ranked above 0 are
// dropped, and the rest are sorted. FuzzResolveMatchesReference holds the
// two equal.
func resolveRef(spans []Span, rank func(Span) int) []Span {
	if rank == nil {
		rank = func(Span) int { return 1 }
	}
	sort.SliceStable(spans, func(i, j int) bool {
		if spans[i].Start != spans[j].Start {
			return spans[i].Start < spans[j].Start
		}
		return spans[i].End > spans[j].End
	})
	type group struct {
		start, end int
		best       Span
		at         int // best's index in sorted order
	}
	var groups []group
	for i, s := range spans {
		groups = append(groups, group{s.Start, s.End, s, i})
	}
	for joined := true; joined; {
		joined = false
		for i := 0; i < len(groups) && !joined; i++ {
			for j := i + 1; j < len(groups) && !joined; j++ {
				a, b := groups[i], groups[j]
				if a.start < b.end && b.start < a.end {
					ra, rb := rank(a.best), rank(b.best)
					if rb > ra || rb == ra && (better(b.best, a.best) || !better(a.best, b.best) && b.at < a.at) {
						a.best, a.at = b.best, b.at
					}
					groups[i] = group{min(a.start, b.start), max(a.end, b.end), a.best, a.at}
					groups = append(groups[:j], groups[j+1:]...)
					joined = true
				}
			}
		}
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].start < groups[j].start })
	var out []Span
	for _, g := range groups {
		if rank(g.best) == 0 {
			continue
		}
		s := g.best
		s.Start, s.End = g.start, g.end
		out = append(out, s)
	}
	return out
}

func pii(typ string, s, e int, c float64) Span {
	return Span{Family: FamilyPII, Type: typ, Start: s, End: e, Confidence: c}
}

func sec(typ string, s, e int, c float64) Span {
	return Span{Family: FamilySecrets, Type: typ, Start: s, End: e, Confidence: c}
}

var resolveCases = []struct {
	name string
	in   []Span
	want []Span
}{
	{"empty", nil, nil},
	{"sorted and disjoint kept as is", []Span{pii("EMAIL", 0, 5, 0.9), pii("PHONE", 5, 9, 0.7)}, []Span{pii("EMAIL", 0, 5, 0.9), pii("PHONE", 5, 9, 0.7)}},
	{"unsorted is sorted", []Span{pii("PHONE", 6, 9, 0.7), pii("EMAIL", 0, 5, 0.9)}, []Span{pii("EMAIL", 0, 5, 0.9), pii("PHONE", 6, 9, 0.7)}},
	{"higher confidence labels an overlap", []Span{pii("PHONE", 0, 9, 0.7), sec("JWT", 3, 12, 0.95)}, []Span{sec("JWT", 0, 12, 0.95)}},
	{"longer labels a tie", []Span{pii("A", 0, 4, 0.9), pii("B", 2, 9, 0.9)}, []Span{pii("B", 0, 9, 0.9)}},
	{"secret wins an exact tie", []Span{pii("A", 0, 4, 0.9), sec("B", 0, 4, 0.9)}, []Span{sec("B", 0, 4, 0.9)}},
	{"first of two equal spans wins", []Span{pii("A", 0, 4, 0.9), pii("B", 0, 4, 0.9)}, []Span{pii("A", 0, 4, 0.9)}},
	{"a chain merges into one", []Span{pii("A", 0, 4, 0.6), pii("B", 3, 7, 0.9), pii("C", 6, 12, 0.7)}, []Span{pii("B", 0, 12, 0.9)}},
	{"a contained span is absorbed", []Span{pii("A", 0, 12, 0.6), sec("B", 3, 5, 0.9)}, []Span{sec("B", 0, 12, 0.9)}},
	// The label is the best span as detected: C is longer than B, though
	// not longer than A and B merged.
	{"label chosen on the spans as detected", []Span{pii("A", 0, 2, 0.9), pii("B", 1, 5, 0.9), pii("C", 4, 9, 0.9)}, []Span{pii("C", 0, 9, 0.9)}},
	{"touching spans stay apart", []Span{pii("A", 0, 4, 0.6), pii("B", 4, 7, 0.9)}, []Span{pii("A", 0, 4, 0.6), pii("B", 4, 7, 0.9)}},
}

// wantedAbove ranks PII spans at or above 0.5 two and secrets at or above
// 0.5 one: a stand-in for a policy that redacts PII and logs secrets.
func wantedAbove(s Span) int {
	switch {
	case s.Confidence < 0.5:
		return 0
	case s.Family == FamilyPII:
		return 2
	}
	return 1
}

var rankedCases = []struct {
	name string
	in   []Span
	want []Span
}{
	{"unwanted disjoint spans are dropped", []Span{pii("A", 0, 2, 0.25), pii("B", 3, 4, 0.75)}, []Span{pii("B", 3, 4, 0.75)}},
	{"an unwanted span goes with the wanted one it overlaps", []Span{pii("A", 0, 4, 0.25), pii("B", 3, 9, 0.75)}, []Span{pii("B", 0, 9, 0.75)}},
	{"a group of unwanted spans is dropped", []Span{pii("A", 0, 4, 0.25), sec("B", 3, 6, 0.25), pii("C", 8, 9, 0.75)}, []Span{pii("C", 8, 9, 0.75)}},
	{"rank labels before confidence", []Span{sec("JWT", 0, 9, 0.75), pii("EMAIL", 3, 12, 0.5)}, []Span{pii("EMAIL", 0, 12, 0.5)}},
	{"an unwanted span never labels", []Span{pii("A", 0, 9, 0.25), sec("B", 3, 5, 0.5)}, []Span{sec("B", 0, 9, 0.5)}},
}

func TestResolveRanked(t *testing.T) {
	for _, tt := range rankedCases {
		t.Run(tt.name, func(t *testing.T) {
			got := ResolveRanked(append([]Span(nil), tt.in...), wantedAbove)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ResolveRanked(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	for _, tt := range resolveCases {
		t.Run(tt.name, func(t *testing.T) {
			got := Resolve(append([]Span(nil), tt.in...))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Resolve(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// decodeSpans turns fuzz bytes into spans: 4 bytes each (start, length,
// confidence, type and family), so overlaps, chains and ties are all
// reachable. Spans are never empty: no detector reports an empty span.
func decodeSpans(b []byte) []Span {
	var out []Span
	for ; len(b) >= 4; b = b[4:] {
		s := int(b[0] % 32)
		e := s + 1 + int(b[1]%8)
		c := float64(b[2]%4) / 4
		typ := string(rune('A' + b[3]%3))
		fam := FamilyPII
		if b[3]&4 != 0 {
			fam = FamilySecrets
		}
		out = append(out, Span{Family: fam, Type: typ, Start: s, End: e, Confidence: c})
	}
	return out
}

func encodeSpans(spans []Span) []byte {
	var b []byte
	for _, s := range spans {
		fam := byte(0)
		if s.Family == FamilySecrets {
			fam = 4
		}
		b = binary.LittleEndian.AppendUint16(b, 0)
		b[len(b)-2], b[len(b)-1] = byte(s.Start), byte(s.End-s.Start-1)
		b = append(b, byte(s.Confidence*4), (s.Type[0]-'A')|fam)
	}
	return b
}

func FuzzResolveMatchesReference(f *testing.F) {
	for _, tt := range resolveCases {
		f.Add(encodeSpans(tt.in))
	}
	for _, tt := range rankedCases {
		f.Add(encodeSpans(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Resolve(decodeSpans(b)), resolveRef(decodeSpans(b), nil); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Resolve = %v, reference = %v", got, want)
		}
		if got, want := ResolveRanked(decodeSpans(b), wantedAbove), resolveRef(decodeSpans(b), wantedAbove); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ResolveRanked = %v, reference = %v", got, want)
		}
	})
}

// FuzzResolveListsMatchesReference holds ResolveLists to the reference on
// two lists of spans: both as a detector returns them (resolved, so sorted
// and disjoint), or the second as it comes (unsorted, overlapping), and
// checks that the lists are left as they were.
func FuzzResolveListsMatchesReference(f *testing.F) {
	for _, tt := range resolveCases {
		f.Add(encodeSpans(tt.in), encodeSpans(tt.want), true)
	}
	for _, tt := range rankedCases {
		f.Add(encodeSpans(tt.in), encodeSpans(tt.in), false)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, resolved bool) {
		lists := func() [][]Span {
			la, lb := Resolve(decodeSpans(a)), decodeSpans(b)
			if resolved {
				lb = Resolve(lb)
			}
			return [][]Span{la, lb}
		}
		for _, rank := range []func(Span) int{nil, wantedAbove} {
			in := lists()
			was := fmt.Sprint(in)
			got := ResolveLists(rank, in...)
			want := resolveRef(append(lists()[0], lists()[1]...), rank)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ResolveLists(%v) = %v, reference = %v", in, got, want)
			}
			if fmt.Sprint(in) != was {
				t.Fatalf("ResolveLists changed its lists from %v to %v", was, in)
			}
		}
	})
}

// TestResolveListsCopiesNoUnwantedSpan checks that resolving a detector's
// output dense with unwanted spans allocates only for the spans kept.
func TestResolveListsCopiesNoUnwantedSpan(t *testing.T) {
	var spans []Span
	for i := range 10000 {
		c := 0.0
		if i%100 == 0 {
			c = 0.75
		}
		spans = append(spans, pii("PHONE", 10*i, 10*i+8, c))
	}
	var got []Span
	allocs := testing.AllocsPerRun(10, func() { got = ResolveLists(wantedAbove, spans, nil) })
	if len(got) != 100 || allocs != 1 || cap(got) != 100 {
		t.Fatalf("kept %d spans in a slice of %d with %v allocations, want 100 in 100 with 1", len(got), cap(got), allocs)
	}
}
