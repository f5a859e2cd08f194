package guardtest

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// fatal records whether a check failed its testing.TB; Fatal stops the
// check's goroutine as testing does.
type fatal struct {
	testing.TB
	failed bool
}

func (f *fatal) Helper() {}

func (f *fatal) Fatal(...any) { f.Fatalf("") }

func (f *fatal) Fatalf(string, ...any) {
	f.failed = true
	panic(f)
}

// fails reports whether check failed tb.
func fails(t *testing.T, check func(tb testing.TB)) (failed bool) {
	t.Helper()
	f := &fatal{TB: t}
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
		failed = f.failed
	}()
	check(f)
	return false
}

// TestCheckSpans holds the span check to what the detectors' fuzzers rely
// on it to catch.
func TestCheckSpans(t *testing.T) {
	text := "0123456789"
	mk := func(s, e int) span.Span { return span.Span{Type: "X", Start: s, End: e} }
	tests := []struct {
		name  string
		spans []span.Span
		fail  bool
	}{
		{"none", nil, false},
		{"ordered and disjoint", []span.Span{mk(0, 2), mk(2, 5), mk(7, 10)}, false},
		{"empty span", []span.Span{mk(3, 3)}, true},
		{"reversed span", []span.Span{mk(4, 3)}, true},
		{"past the end", []span.Span{mk(8, 11)}, true},
		{"overlap", []span.Span{mk(0, 3), mk(2, 4)}, true},
		{"out of order", []span.Span{mk(5, 6), mk(1, 2)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fails(t, func(tb testing.TB) { CheckSpans(tb, text, tt.spans) }); got != tt.fail {
				t.Fatalf("CheckSpans failed = %v, want %v", got, tt.fail)
			}
		})
	}
}

// TestCheckFindsAndReference holds the table and reference checks to
// failing on any difference in type, value, order or count.
func TestCheckFindsAndReference(t *testing.T) {
	detect := func(text string) []span.Span {
		if i := strings.Index(text, "key"); i >= 0 {
			return []span.Span{{Type: "K", Start: i, End: i + 3}}
		}
		return nil
	}
	none := func(string) []span.Span { return nil }
	tests := []struct {
		name  string
		check func(tb testing.TB)
		fail  bool
	}{
		{"exact finds", func(tb testing.TB) { CheckFinds(tb, detect, "a key", []Found{{"K", "key"}}) }, false},
		{"nothing to find", func(tb testing.TB) { CheckFinds(tb, detect, "none", nil) }, false},
		{"wrong type", func(tb testing.TB) { CheckFinds(tb, detect, "a key", []Found{{"J", "key"}}) }, true},
		{"missed", func(tb testing.TB) { CheckFinds(tb, detect, "a key", nil) }, true},
		{"extra", func(tb testing.TB) { CheckFinds(tb, detect, "a key", []Found{{"K", "key"}, {"K", "key"}}) }, true},
		{"reference agrees", func(tb testing.TB) { MatchReference(tb, []string{"a key", "b"}, detect, detect) }, false},
		{"reference differs", func(tb testing.TB) { MatchReference(tb, []string{"b", "a key"}, detect, none) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fails(t, tt.check); got != tt.fail {
				t.Fatalf("failed = %v, want %v", got, tt.fail)
			}
		})
	}
}

// TestCorpus checks the corpus holds the table texts first, then the
// labelled and synthetic sets, then one join of all of them per separator.
func TestCorpus(t *testing.T) {
	table := []string{"first case", "second case"}
	texts := Corpus(t, table, "", "|")
	n := len(texts) - 2
	if n <= len(table)+20 || texts[0] != table[0] || texts[1] != table[1] {
		t.Fatalf("corpus of %d texts starts %q, want the table then more than 20 others", len(texts), texts[:2])
	}
	if texts[n] != strings.Join(texts[:n], "") || texts[n+1] != strings.Join(texts[:n], "|") {
		t.Fatal("the last texts are not the joins of all the others")
	}
}

// TestCheckLinear holds the linearity and cost checks to telling 8× from
// 64× work (sleeps stand in for work of each size).
func TestCheckLinear(t *testing.T) {
	unit := 2 * time.Millisecond
	small := func() { time.Sleep(unit) }
	linear := func() { time.Sleep(8 * unit) }
	quadratic := func() { time.Sleep(64 * unit) }
	if fails(t, func(tb testing.TB) { CheckLinear(tb, small, linear, 32, 0) }) {
		t.Error("8× work failed the check")
	}
	if !fails(t, func(tb testing.TB) { CheckLinear(tb, small, quadratic, 32, 0) }) {
		t.Error("64× work passed the check")
	}
	if fails(t, func(tb testing.TB) { CheckCost(tb, small, linear, 32, 0) }) || !fails(t, func(tb testing.TB) { CheckCost(tb, small, quadratic, 32, 0) }) {
		t.Error("CheckCost did not tell 8× from 64× work")
	}
}
