package pii

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// detectRef is Detect as it was before the IPv6 scan jumped to the runs
// around colons (the byte-class table both share is held to the old
// predicates by TestClasses); TestMatchesReference
// and FuzzMatchesReference hold the two to the same output.
func detectRef(text string) []span.Span {
	var out []span.Span
	out = appendEmails(out, text)
	out = appendIPv6Ref(out, text)
	out = appendTokens(out, text)
	return span.Resolve(out) // span.Resolve has its own reference test
}

// appendIPv6Ref parses every maximal run of hex digits, ':' and '.' that holds
// at least two colons.
func appendIPv6Ref(out []span.Span, text string) []span.Span {
	for i := 0; i < len(text); {
		if !isHex(text[i]) && text[i] != ':' || i > 0 && (wordByte(text[i-1]) || text[i-1] == ':') {
			i++
			continue
		}
		j, colons := i, 0
		for j < len(text) && (isHex(text[j]) || text[j] == ':' || text[j] == '.') {
			if text[j] == ':' {
				colons++
			}
			j++
		}
		if colons >= 2 && j-i <= 45 && (j == len(text) || !wordByte(text[j])) {
			cand := strings.TrimRight(text[i:j], ".")
			if a, err := netip.ParseAddr(cand); err == nil && a.Is6() && hexGroups(cand) >= 3 {
				out = append(out, mk(IPAddress, i, i+len(cand), 0.9))
			}
		}
		if j == i {
			j++
		}
		i = j
	}
	return out
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
