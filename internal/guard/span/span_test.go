package span

import (
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
)

// resolveRef is Resolve as it was before the sorted fast path and
// slices.SortStableFunc: FuzzResolveMatchesReference holds the two equal.
func resolveRef(spans []Span) []Span {
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
	{"higher confidence wins an overlap", []Span{pii("PHONE", 0, 9, 0.7), sec("JWT", 3, 12, 0.95)}, []Span{sec("JWT", 3, 12, 0.95)}},
	{"longer wins a tie", []Span{pii("A", 0, 4, 0.9), pii("B", 2, 9, 0.9)}, []Span{pii("B", 2, 9, 0.9)}},
	{"secret wins an exact tie", []Span{pii("A", 0, 4, 0.9), sec("B", 0, 4, 0.9)}, []Span{sec("B", 0, 4, 0.9)}},
	{"first of two equal spans wins", []Span{pii("A", 0, 4, 0.9), pii("B", 0, 4, 0.9)}, []Span{pii("A", 0, 4, 0.9)}},
	{"empty span at the start of another is sorted after it", []Span{pii("A", 5, 5, 0.9), pii("B", 5, 8, 0.1)}, []Span{pii("A", 5, 5, 0.9)}},
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
// confidence, type and family), so overlaps, ties and empty spans are all
// reachable.
func decodeSpans(b []byte) []Span {
	var out []Span
	for ; len(b) >= 4; b = b[4:] {
		s := int(b[0] % 32)
		e := s + int(b[1]%8) - 1 // may be empty or even reversed
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
		b[len(b)-2], b[len(b)-1] = byte(s.Start), byte(s.End-s.Start+1)
		b = append(b, byte(s.Confidence*4), (s.Type[0]-'A')|fam)
	}
	return b
}

func FuzzResolveMatchesReference(f *testing.F) {
	for _, tt := range resolveCases {
		f.Add(encodeSpans(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Resolve(decodeSpans(b))
		want := resolveRef(decodeSpans(b))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Resolve = %v, reference = %v", got, want)
		}
	})
}
