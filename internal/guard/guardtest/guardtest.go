// Package guardtest holds what the tests of the guard's span detectors
// (pii, secrets) share: the check that a detector finds exactly a table's
// values, the check that its spans are well formed, and the corpus, test,
// fuzz body and benchmark that hold a fast detector to the reference
// implementation it replaced. Each detector package keeps its own tables
// and reference; only the way they are run lives here.
//
// It is imported by tests only. Its functions keep no state and are safe
// for concurrent use.
package guardtest

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard/eval"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Detector is the shape of pii.Detect and secrets.Detect: the resolved,
// ordered spans found in a text.
type Detector func(text string) []span.Span

// Found is one detection as a table writes it: its type, then the exact
// text it covers. An array rather than a struct so that tables in other
// packages can write {Email, "a@b.example"} without field names.
type Found [2]string

// Values returns what each span covers in text, in order.
func Values(text string, spans []span.Span) []Found {
	var out []Found
	for _, s := range spans {
		out = append(out, Found{s.Type, text[s.Start:s.End]})
	}
	return out
}

// Findings returns detect without its spans of confidence 0: candidates
// that no policy threshold keeps and that are reported only so a redactor
// can merge them into the findings they overlap (see span.ResolveRanked).
func Findings(detect Detector) Detector {
	return func(text string) []span.Span {
		var out []span.Span
		for _, s := range detect(text) {
			if s.Confidence > 0 {
				out = append(out, s)
			}
		}
		return out
	}
}

// CheckFinds fails t unless detect finds exactly want in text, in order.
func CheckFinds(t testing.TB, detect Detector, text string, want []Found) {
	t.Helper()
	if got := Values(text, detect(text)); !slices.Equal(got, want) {
		t.Fatalf("Detect(%q) = %v, want %v", text, got, want)
	}
}

// CheckSpans fails t unless spans are non-empty, inside text and in order
// without overlap: what a redactor relies on to cut the text safely.
func CheckSpans(t testing.TB, text string, spans []span.Span) {
	t.Helper()
	last := 0
	for _, s := range spans {
		if s.Start < last || s.End <= s.Start || s.End > len(text) {
			t.Fatalf("bad span %+v in %q", s, text)
		}
		last = s.End
	}
}

// Corpus is every text a detector and its reference must agree on in a
// unit test: texts (the package's table cases), the presidio-research PII
// set, twenty of Bulwark's synthetic cases, then all of those joined by
// each of seps in turn, so that entities meet at odd boundaries.
func Corpus(tb testing.TB, texts []string, seps ...string) []string {
	tb.Helper()
	ex, err := eval.LoadPII()
	if err != nil {
		tb.Fatal(err)
	}
	texts = slices.Clone(texts)
	for _, e := range append(ex, eval.Synthetic(20)...) {
		texts = append(texts, e.Text)
	}
	n := len(texts)
	for _, sep := range seps {
		texts = append(texts, strings.Join(texts[:n], sep))
	}
	return texts
}

// MatchReference fails t at the first text on which detect and ref
// disagree.
func MatchReference(t testing.TB, texts []string, detect, ref Detector) {
	t.Helper()
	for i, text := range texts {
		if got, want := detect(text), ref(text); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("text %d %q: Detect = %v, reference = %v", i, text, got, want)
		}
	}
}

// FuzzReference seeds f with seeds and fuzzes detect against ref: any
// text on which they disagree fails.
func FuzzReference(f *testing.F, seeds []string, detect, ref Detector) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := detect(text), ref(text); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Detect(%q) = %v, reference = %v", text, got, want)
		}
	})
}

// Prose is the gateway benchmark's prose (the response side's text): what
// a detector meets most often, and finds nothing in.
var Prose = "Request w00000001: Summarise the following paragraph in one sentence. " +
	strings.Repeat("The gateway forwards requests to the upstream provider and accounts for usage. ", 6)

// BenchReference runs detect (as the sub-benchmark name) and ref (as
// "reference") on Prose, so that the two are read side by side.
func BenchReference(b *testing.B, name string, detect, ref Detector) {
	for _, bc := range []struct {
		name   string
		detect Detector
	}{{name, detect}, {"reference", ref}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(Prose)))
			for b.Loop() {
				bc.detect(Prose)
			}
		})
	}
}

// CheckLinear fails t when big (n times the input of small) takes more
// than bound times small's time plus slack: linear work takes n times as
// long, quadratic n² times, and a bound between the two tells them apart.
// Each side is timed as the best of three runs after a collection, and a
// comparison that fails is measured again, twice: on a loaded machine one
// run can be slowed for a second while the other was not, but quadratic
// work fails every attempt.
func CheckLinear(t testing.TB, small, big func(), bound int, slack time.Duration) {
	t.Helper()
	if ts, tb, ok := within(small, big, bound, slack); !ok {
		t.Fatalf("small input %v, big input %v (bound %d× + %v): not linear", ts, tb, bound, slack)
	}
}

// CheckCost fails t when fn takes more than bound times as long as base
// plus slack, each timed as CheckLinear times them: a detector's cost on
// a text built to slow it, against its cost on as much prose.
func CheckCost(t testing.TB, base, fn func(), bound int, slack time.Duration) {
	t.Helper()
	if tb, tf, ok := within(base, fn, bound, slack); !ok {
		t.Fatalf("base %v, measured %v (bound %d× + %v): too costly", tb, tf, bound, slack)
	}
}

// within times a and b, best of three each, up to three times, until b
// takes at most bound times a's time plus slack.
func within(a, b func(), bound int, slack time.Duration) (ta, tb time.Duration, ok bool) {
	for range 3 {
		ta, tb = bestOf3(a), bestOf3(b)
		if tb <= time.Duration(bound)*ta+slack {
			return ta, tb, true
		}
	}
	return ta, tb, false
}

func bestOf3(fn func()) time.Duration {
	best := time.Duration(1 << 62)
	for range 3 {
		runtime.GC()
		start := time.Now()
		fn()
		best = min(best, time.Since(start))
	}
	return best
}

// BenchPerMiB runs fn as one sub-benchmark per unit, on 1 MiB of that unit
// repeated (named "prose" for Prose), reporting throughput and
// allocations: the cost of a text built to be expensive beside ordinary
// prose.
func BenchPerMiB(b *testing.B, units []string, fn func(b *testing.B, text string)) {
	for _, unit := range units {
		name := unit
		if unit == Prose {
			name = "prose"
		}
		text := strings.Repeat(unit, (1<<20)/len(unit))
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			fn(b, text)
		})
	}
}
