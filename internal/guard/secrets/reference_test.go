package secrets

import (
	"math"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// detectRef is Detect as it was before the prefix rules were fused into one
// pass: one strings.Index loop per rule. TestMatchesReference and
// FuzzMatchesReference hold the two to the same output.
func detectRef(text string) []span.Span {
	var out []span.Span
	for i := range prefixRules {
		out = appendAllRef(&prefixRules[i], out, text)
	}
	out = appendAWS(out, text)
	out = appendJWTRef(out, text)
	out = appendPEM(out, text)
	out = appendAssignmentsRef(out, text)
	return span.Resolve(out) // span.Resolve has its own reference test
}

func appendAllRef(r *prefixRule, out []span.Span, text string) []span.Span {
	for off := 0; ; {
		k := strings.Index(text[off:], r.prefix)
		if k < 0 {
			return out
		}
		s := off + k
		e := s + len(r.prefix)
		for e < len(text) && r.body(text[e]) {
			e++
		}
		off = max(e, s+1)
		if !boundary(text, s) || r.owned(text[s:]) {
			continue
		}
		body := text[s+len(r.prefix) : e]
		if len(body) < r.min || r.check != nil && !r.check(body) {
			continue
		}
		out = append(out, mk(r.typ, s, e, r.conf))
	}
}

// caseTexts is the text of every table case.
func caseTexts() []string {
	var texts []string
	for _, tt := range cases {
		texts = append(texts, tt.text)
	}
	return texts
}

// judgeTexts put the judge's sliding window through what it must get
// right: values holding many assignments, placeholder words in any case
// (the two non-ASCII runes that lower-case to ASCII letters among them)
// that enter the window only for later assignments or straddle its end,
// and windows of exactly 3 bits of entropy ("abcdEFGH" twice), where the
// fixed-point estimate defers to entropyOf.
var judgeTexts = []string{
	strings.Repeat("key=", 200),
	strings.Repeat("KEY=", 150) + strings.Repeat("Key=\u0130", 100),
	"token=" + strings.Repeat("Zx8kP2mQkey=", 45) + "NuLL" + strings.Repeat("key=Zx8k", 70),
	strings.Repeat("auth=Zx8kP2mQ9vL4wR7t", 30) + "OS.ENV\u0130RON" + strings.Repeat("key=9vL4wR7t", 50),
	strings.Repeat("password=ab", 60) + "\u212a" + strings.Repeat("secret:xYz", 60) + "CHANGEME",
	"token=abcdEFGHabcdEFGH", "token=abcdEFGHabcdEFG", strings.Repeat("key=abcdEFGH", 70),
	strings.Repeat("key=", 127) + "xxxx" + strings.Repeat("key=", 127) + "****",
}

// TestMatchesReference holds Detect to the reference on the table cases,
// judgeTexts, the presidio-research set and synthetic cases, also glued
// with nothing, "sk-" and 'A' so that tokens meet at odd boundaries.
func TestMatchesReference(t *testing.T) {
	texts := append(caseTexts(), judgeTexts...)
	guardtest.MatchReference(t, guardtest.Corpus(t, texts, "", "sk-", "A"), Detect, detectRef)
}

func FuzzMatchesReference(f *testing.F) {
	guardtest.FuzzReference(f, append(caseTexts(), judgeTexts...), Detect, detectRef)
}

// BenchmarkDetect compares Detect with the reference on the gateway
// benchmark's prose (the response side's text).
func BenchmarkDetect(b *testing.B) {
	guardtest.BenchReference(b, "fused", Detect, detectRef)
}

// appendJWTRef is the JWT rule's own strings.Index loop, before it joined
// the fused pass.
func appendJWTRef(out []span.Span, text string) []span.Span {
	for off := 0; ; {
		k := strings.Index(text[off:], "eyJ")
		if k < 0 {
			return out
		}
		s := off + k
		e, ok := s, true
		for part := 0; part < 3 && ok; part++ {
			if part > 0 {
				if e >= len(text) || text[e] != '.' {
					ok = false
					break
				}
				e++
			}
			p := e
			for e < len(text) && b64urlByte(text[e]) {
				e++
			}
			ok = e-p >= 8 && (part != 1 || strings.HasPrefix(text[p:], "eyJ"))
		}
		off = max(e, s+1)
		if ok && boundary(text, s) {
			out = append(out, mk(JWT, s, e, 0.95))
		}
	}
}

// appendAssignmentsRef is appendAssignments with its byte-by-byte search
// for the operators, measuring every value from its start, and judging
// each value's first maxJudged bytes afresh (looksSecretRef) rather than
// sliding a judge over them.
func appendAssignmentsRef(out []span.Span, text string) []span.Span {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '=' && c != ':' {
			continue
		}
		name, ok := nameBeforeRef(text, i)
		if !ok {
			continue
		}
		s := valueStart(text, i+1)
		e := valueEnd(text, s)
		switch {
		case s >= e:
		case looksSecretRef(name, text[s:min(e, s+maxJudged)]):
			out = append(out, mk(GenericSecret, s, e, 0.75))
			i = e - 1
		case !insideCandidate(out, s) && e-s >= minSecretRef(name):
			out = append(out, mk(GenericSecret, s, e, candidate))
		}
	}
	return out
}

// insideCandidate reports whether s lies inside a candidate value already
// reported (whose end is then also the end of the value at s).
func insideCandidate(out []span.Span, s int) bool {
	for _, c := range out {
		if c.Type == GenericSecret && c.Confidence == candidate && c.Start <= s && s < c.End {
			return true
		}
	}
	return false
}

// nameBeforeRef is nameBefore returning the name, lower-cased by
// strings.ToLower.
func nameBeforeRef(text string, i int) (string, bool) {
	j := i
	lo := max(0, i-MaxContext)
	for j > lo && (text[j-1] == ' ' || text[j-1] == '"' || text[j-1] == '\'') {
		j--
	}
	k := j
	for k > lo && (tokenByte(text[k-1]) || text[k-1] == '.') {
		k--
	}
	if k == j {
		return "", false
	}
	name := strings.ToLower(text[k:j])
	for _, w := range []string{"key", "token", "secret", "passw", "pwd", "passphrase", "credential", "auth", "bearer"} {
		if strings.Contains(name, w) {
			return name, true
		}
	}
	return "", false
}

// looksSecretRef is the rule judge applies, on the whole of v at once.
func looksSecretRef(name, v string) bool {
	if len(v) < minSecretRef(name) || placeholderRef(v) {
		return false
	}
	return passwordRef(name) || classesRef(v) >= 2 && entropyRef(v) >= 3.0
}

func minSecretRef(name string) int {
	if passwordRef(name) {
		return 6
	}
	return 16
}

func passwordRef(name string) bool {
	return strings.Contains(name, "passw") || strings.Contains(name, "pwd") || strings.Contains(name, "passphrase")
}

func placeholderRef(v string) bool {
	l := strings.ToLower(v)
	if strings.HasPrefix(l, "$") || strings.HasPrefix(l, "{{") || strings.HasPrefix(l, "<") || strings.HasPrefix(l, "[") || strings.HasPrefix(l, "%") {
		return true
	}
	for _, p := range []string{"xxxx", "****", "your", "changeme", "redacted", "example.com", "null", "none", "true", "false", "process.env", "os.environ", "getenv"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func classesRef(v string) int {
	var lo, up, dg, ot int
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'a' && c <= 'z':
			lo = 1
		case c >= 'A' && c <= 'Z':
			up = 1
		case c >= '0' && c <= '9':
			dg = 1
		default:
			ot = 1
		}
	}
	return lo + up + dg + ot
}

func entropyRef(v string) float64 {
	var counts [256]int
	for i := 0; i < len(v); i++ {
		counts[v[i]]++
	}
	h, n := 0.0, float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
