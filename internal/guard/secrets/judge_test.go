package secrets

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestEntropyEstimateWithinMargin checks the claim entropyAtLeast3 rests
// on: the fixed-point entropy of a window is within 1e-9 bits of
// entropyOf's (the margin it trusts is 1e-6), on windows of every length
// a judge holds drawn from few and from many distinct bytes.
func TestEntropyEstimateWithinMargin(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= maxJudged; n++ {
		for _, alphabet := range []int{2, 8, 64, 256} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.IntN(alphabet))
			}
			j := newJudge(string(b))
			j.slide(0, n)
			approx := math.Log2(float64(n)) - float64(j.clog)/clogScale/float64(n)
			if d := math.Abs(approx - entropyOf(&j.counts, n)); d > 1e-9 {
				t.Fatalf("%d bytes of %d kinds: estimate off by %g", n, alphabet, d)
			}
		}
	}
}

// TestJudgeWindowsInAnyOrder holds a judge to the plain rule when its
// windows move back and shrink, which appendAssignments never asks of it.
func TestJudgeWindowsInAnyOrder(t *testing.T) {
	text := strings.Repeat("Zx8kP2mQ9vL4wR7t", 20) + "your" + strings.Repeat("ab", 300) + "NULL" + strings.Repeat("Zx8kP2mQ9vL4wR7t", 10)
	r := rand.New(rand.NewPCG(3, 4))
	j := newJudge(text)
	for range 5000 {
		s := r.IntN(len(text))
		e := min(len(text), s+r.IntN(maxJudged+1))
		for _, pass := range []bool{false, true} {
			name := "token"
			if pass {
				name = "password"
			}
			if got, want := j.looksSecret(pass, s, e), looksSecretRef(name, text[s:e]); got != want {
				t.Fatalf("window [%d, %d) of a %s: judge %v, rule %v", s, e, name, got, want)
			}
		}
	}
}
