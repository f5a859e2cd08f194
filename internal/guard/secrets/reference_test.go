package secrets

import (
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

// TestMatchesReference holds Detect to the reference on the table cases,
// the presidio-research set and synthetic cases, also glued with nothing,
// "sk-" and 'A' so that tokens meet at odd boundaries.
func TestMatchesReference(t *testing.T) {
	guardtest.MatchReference(t, guardtest.Corpus(t, caseTexts(), "", "sk-", "A"), Detect, detectRef)
}

func FuzzMatchesReference(f *testing.F) {
	guardtest.FuzzReference(f, caseTexts(), Detect, detectRef)
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
// for the operators, measuring every value from its start.
func appendAssignmentsRef(out []span.Span, text string) []span.Span {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '=' && c != ':' {
			continue
		}
		name, ok := nameBefore(text, i)
		if !ok {
			continue
		}
		s := valueStart(text, i+1)
		e := valueEnd(text, s)
		switch {
		case s >= e:
		case looksSecret(name, text[s:min(e, s+maxJudged)]):
			out = append(out, mk(GenericSecret, s, e, 0.75))
			i = e - 1
		case !insideCandidate(out, s) && e-s >= minSecret(name):
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
