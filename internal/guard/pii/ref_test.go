package pii

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// detectRef is Detect with the IPv6 scan written the slow and obvious way:
// every start and every end appendIPv6Run allows, tried longest first,
// without the jump to the runs around colons or the early stop on text that
// cannot be an address (the byte-class table both share is held to the old
// predicates by TestClasses). TestMatchesReference and FuzzMatchesReference
// hold the two to the same output.
func detectRef(text string) []span.Span {
	var out []span.Span
	out = appendEmails(out, text)
	out = appendIPv6Ref(out, text)
	out = appendTokens(out, text)
	return span.Resolve(out) // span.Resolve has its own reference test
}

func appendIPv6Ref(out []span.Span, text string) []span.Span {
	next := 0
	for s := 0; s < len(text); s++ {
		if s < next || !ipv6StartRef(text, s, next) {
			continue
		}
		for e := min(len(text), s+maxIPv6); e > s; e-- {
			cand := text[s:e]
			if ipv6EndRef(text, s, e) && strings.Count(cand, ":") >= 2 && hexGroups(cand) >= 3 {
				if a, err := netip.ParseAddr(cand); err == nil && a.Is6() {
					out = append(out, mk(IPAddress, s, e, 0.9))
					next, s = e, e-1
					break
				}
			}
		}
	}
	return out
}

func ipv6Byte(c byte) bool { return isHex(c) || c == ':' || c == '.' }

// ipv6StartRef: a hex digit or ':' at the start of the text, just after the
// previous address, after a byte that is neither a word byte nor ':', or a
// "::" after anything but ':'.
func ipv6StartRef(text string, s, next int) bool {
	c := text[s]
	if !isHex(c) && c != ':' {
		return false
	}
	if s == 0 || s == next {
		return true
	}
	p := text[s-1]
	return !wordByte(p) && p != ':' || strings.HasPrefix(text[s:], "::") && p != ':'
}

// ipv6EndRef: text[s:e] is all hex digits, ':' and '.', does not end in '.',
// and is followed by the end of the text, a '.', a "::" or a byte that
// continues neither the run nor a word, or ends in "::".
func ipv6EndRef(text string, s, e int) bool {
	for k := s; k < e; k++ {
		if !ipv6Byte(text[k]) {
			return false
		}
	}
	if text[e-1] == '.' {
		return false
	}
	return e == len(text) || text[e] == '.' || !ipv6Byte(text[e]) && !wordByte(text[e]) || strings.HasSuffix(text[s:e], "::") || strings.HasPrefix(text[e:], "::")
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
// ':' and '1' so that addresses and digit runs meet at odd boundaries.
func TestMatchesReference(t *testing.T) {
	guardtest.MatchReference(t, guardtest.Corpus(t, caseTexts(), "", ":", "1"), Detect, detectRef)
}

func FuzzMatchesReference(f *testing.F) {
	guardtest.FuzzReference(f, append(caseTexts(), "fe80::1%eth0 1:2:3:4:5:6:7:8 a::b.c ::ffff:10.0.0.1 x.::1 12::34::56"), Detect, detectRef)
}

// BenchmarkDetect compares Detect with the reference on the gateway
// benchmark's prose (the response side's text).
func BenchmarkDetect(b *testing.B) {
	guardtest.BenchReference(b, "new", Detect, detectRef)
}

// TestClasses holds the byte-class table to the predicates it replaced.
func TestClasses(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		hex := isDigit(b) || b|0x20 >= 'a' && b|0x20 <= 'f'
		word := isAlnum(b) || b == '_' || b >= 0x80
		run := hex || b == ':' || b == '.'
		if isHex(b) != hex || wordByte(b) != word || (classes[b]&classIPv6 != 0) != run {
			t.Fatalf("byte %#x: hex %v/%v, word %v/%v, run %v/%v", b, isHex(b), hex, wordByte(b), word, classes[b]&classIPv6 != 0, run)
		}
	}
}
