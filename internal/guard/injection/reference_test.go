package injection

import (
	"math"
	"strings"
	"unicode"

	"github.com/bulwarkhq/bulwark/internal/guard/normalize"
)

// This file keeps the detector as it was before the single-pass inference
// (issue 8): Detect normalising into fresh strings, the model summing
// weights through eachFeature's callback and the list Dense builds, rot13
// matched on a rot13 copy of the text. FuzzDetectMatchesReference and
// TestCorporaMatchReference hold the fast path to it bit for bit.

func refDetect(m *Model, text string) Result {
	norm := normalize.Text(text)
	best := refScore(m, text, norm)
	if best.Type == "" || best.Score < ruleScore {
		for _, p := range normalize.Decoded(text) {
			if r := refScore(m, p, normalize.Text(p)); r.Score > best.Score {
				best = Result{Score: r.Score, Type: TypeEncoded}
			}
		}
		if t := refMatchRules(normalize.Rot13(norm)); t != "" && ruleScore > best.Score {
			best = Result{Score: ruleScore, Type: TypeEncoded}
		}
	}
	return best
}

func refScore(m *Model, raw, norm string) Result {
	if t := refMatchRules(norm); t != "" {
		return Result{Score: ruleScore, Type: t}
	}
	if strings.Count(norm, " ")+1 < minModelWords {
		return Result{}
	}
	s := refModelScore(m, raw, norm)
	if s >= 0.5 {
		return Result{Score: s, Type: TypeClassifier}
	}
	return Result{Score: s}
}

// refMatchRules is matchRules on the text itself (rot13 included, which
// Detect now matches through rot13-encoded needles). Running every
// expression instead would be slower still and prove no more:
// FuzzCandidates holds matchRules to exactly that.
func refMatchRules(text string) string { return matchRules(text) }

func refModelScore(m *Model, raw, norm string) float64 {
	return 1 / (1 + math.Exp(-float64(refLogit(m, raw, norm)-m.threshold)))
}

func refLogit(m *Model, raw, norm string) float32 {
	var sum, dense int32
	n := 0
	eachFeature(norm, func(i uint32) {
		sum += int32(m.w[i])
		n++
	})
	v := featureValue(n)
	for _, i := range refDense(raw, norm) {
		dense += int32(m.w[i])
	}
	return m.bias + (float32(sum)*v+float32(dense))*m.scale
}

func refDense(raw, norm string) []uint32 {
	out := make([]uint32, 0, 24)
	var nw, rw wordSplit
	splitWords(norm, &nw)
	splitWords(raw, &rw)
	out = ordinal(out, 14, countLast(nw.recent(), refWeirdWord))
	out = ordinal(out, 15, countLast(rw.recent(), camelGlued))
	out = ordinal(out, 18, nw.n/15)
	if !strings.Contains(raw, "\n") {
		tail := refGibberish(nw.recent(), rw.recent())
		head := refGibberish(nw.first(), rw.first())
		out = ordinal(out, 16, tail)
		out = ordinal(out, 17, tail-2*head)
	}
	return out
}

func refWeirdWord(f string) bool {
	return strings.ContainsAny(f, "[]{}()<>$@\\|^~*`=_#;%") && strings.IndexFunc(f, unicode.IsLetter) >= 0
}

func refGibberish(norm, raw []string) int {
	return countLast(norm, refWeirdWord) + countLast(raw, camelGlued) + countLast(raw, symbolRun)
}

// camelGlued reports a lower-case letter followed by an upper-case one
// inside a word ("threeinner", "StringBuilder(@"), common in optimised
// suffixes and rare in prose.
func camelGlued(f string) bool {
	for i := 1; i < len(f); i++ {
		if f[i-1] >= 'a' && f[i-1] <= 'z' && f[i] >= 'A' && f[i] <= 'Z' {
			return true
		}
	}
	return false
}

// symbolRun reports two adjacent punctuation symbols other than a repeated
// dot ("(@", "-->", "]\"", "}}"), frequent in optimised suffixes.
func symbolRun(f string) bool {
	for i := 1; i < len(f); i++ {
		a, b := f[i-1], f[i]
		if isSym(a) && isSym(b) && (a != '.' || b != '.') {
			return true
		}
	}
	return false
}

// countLast counts the words among the last 30 that satisfy pred.
func countLast(fields []string, pred func(string) bool) int {
	n := 0
	for _, f := range fields[max(0, len(fields)-30):] {
		if pred(f) {
			n++
		}
	}
	return n
}
