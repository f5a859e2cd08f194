package pii

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/eval"
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

// corpus is every text the reference must agree on in a unit test: the
// table cases, the presidio-research set, Bulwark's synthetic cases, and
// those texts glued together (so entities meet at odd boundaries).
func corpus(t testing.TB) []string {
	t.Helper()
	var texts []string
	for _, tt := range cases {
		texts = append(texts, tt.text)
	}
	ex, err := eval.LoadPII()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(ex, eval.Synthetic(20)...) {
		texts = append(texts, e.Text)
	}
	return append(texts, strings.Join(texts, ""), strings.Join(texts, ":"), strings.Join(texts, "1"))
}

func TestMatchesReference(t *testing.T) {
	for i, text := range corpus(t) {
		if got, want := Detect(text), detectRef(text); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("text %d %q: Detect = %v, reference = %v", i, text, got, want)
		}
	}
}

func FuzzMatchesReference(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.text)
	}
	f.Add("fe80::1%eth0 1:2:3:4:5:6:7:8 a::b.c ::ffff:10.0.0.1 x.::1 12::34::56")
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := Detect(text), detectRef(text); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Detect(%q) = %v, reference = %v", text, got, want)
		}
	})
}

// BenchmarkDetect compares Detect with the reference on the gateway
// benchmark's prose (the response side's text).
func BenchmarkDetect(b *testing.B) {
	text := "Request w00000001: Summarise the following paragraph in one sentence. " +
		strings.Repeat("The gateway forwards requests to the upstream provider and accounts for usage. ", 6)
	for _, bc := range []struct {
		name   string
		detect func(string) []span.Span
	}{{"new", Detect}, {"reference", detectRef}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				bc.detect(text)
			}
		})
	}
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
