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
// predicates by TestClasses); with the spans gathered by append; and with
// each digit run read whole into a slice of its groups, as before runGroups
// read them on demand. TestMatchesReference and FuzzMatchesReference hold
// the two to the same output. The rules that classify a window of groups
// are shared; phoneContext, which they call, is held to its former self by
// FuzzPhoneContextMatchesReference.
func detectRef(text string) []span.Span {
	var out []span.Span
	out = appendEmailsRef(out, text)
	out = appendIPv6Ref(out, text)
	out = appendTokensRef(out, text)
	return span.Resolve(out) // span.Resolve has its own reference test
}

func appendEmailsRef(out []span.Span, text string) []span.Span {
	prevEnd := 0
	for off := 0; ; {
		k := strings.IndexByte(text[off:], '@')
		if k < 0 {
			return out
		}
		at := off + k
		off = at + 1
		s := at
		for s > prevEnd && localByte(text[s-1]) {
			s--
		}
		for s < at && (text[s] == '.' || text[s] == '\'') {
			s++
		}
		e := domainEnd(text, at)
		if s == at || e < 0 {
			continue
		}
		out = append(out, mk(Email, s, e, 0.95))
		prevEnd, off = e, e
	}
}

func appendTokensRef(out []span.Span, text string) []span.Span {
	n := len(text)
	for i := 0; i < n; {
		c := text[i]
		switch {
		case isAlpha(c):
			if e, ok := matchIBAN(text, i); ok {
				out = append(out, mk(IBAN, i, e, 0.97))
				i = e
				continue
			}
			for i < n && wordByte(text[i]) {
				i++
			}
		case isDigit(c) || (c == '+' || c == '(') && i+1 < n && isDigit(text[i+1]):
			var end int
			out, end = appendRunRef(out, text, i)
			i = end
		case wordByte(c):
			for i < n && wordByte(text[i]) {
				i++
			}
		default:
			i++
		}
	}
	return out
}

func appendRunRef(out []span.Span, text string, i int) ([]span.Span, int) {
	n := len(text)
	lead := i
	j := i
	if !isDigit(text[j]) {
		j++
		if text[i] == '(' && !areaCode(text, j) {
			lead = j
		}
	}
	var groups []group
	for {
		s := j
		for j < n && isDigit(text[j]) {
			j++
		}
		groups = append(groups, group{s, j})
		k := j
		for k < n && k-j < 3 && sepByte(text[k]) {
			k++
		}
		if k == j || k >= n || !isDigit(text[k]) {
			break
		}
		j = k
	}
	end := j
	if end < n && wordByte(text[end]) && extEnd(text, end) == 0 {
		for end < n && wordByte(text[end]) {
			end++
		}
		groups = groups[:len(groups)-1]
	}
	if vetoedRef(text, groups) {
		return out, end
	}
	for a := 0; a < len(groups); {
		matched := false
		start := windowStart(text, groups[a], a, lead)
		for b := min(len(groups)-1, a+maxWindow-1); b >= a; b-- {
			typ, conf, e := classify(text, start, groups[a:b+1])
			if typ != "" {
				out = append(out, mk(typ, start, e, conf))
				a, matched = b+1, true
				break
			}
		}
		if !matched {
			a++
		}
	}
	return out, end
}

func vetoedRef(text string, gs []group) bool {
	if len(gs) < 3 || len(gs) > 5 {
		return false
	}
	var shape, seps, digits strings.Builder
	for k, g := range gs {
		n := g.end - g.start
		if n < 0 || n > 9 {
			return false
		}
		shape.WriteByte(byte('0' + n))
		digits.WriteString(text[g.start:g.end])
		if k > 0 {
			seps.WriteString(text[gs[k-1].end:g.start])
		}
	}
	switch shape.String() + " " + seps.String() {
	case "3332 ..-":
		return !ValidCPF(digits.String())
	case "23342 ../-":
		return !ValidCNPJ(digits.String())
	case "324 --":
		return !ValidSSN(digits.String())
	}
	return false
}

// phoneContextRef is phoneContext as it was, lower-casing a joined copy of
// the text around the number.
func phoneContextRef(text string, start, end int) bool {
	lo, hi := max(0, start-48), min(len(text), end+16)
	for k := start - 1; k >= lo; k-- {
		if text[k] == ']' && span.PlaceholderBefore(text, k+1) {
			lo = k + 1
			break
		}
	}
	for k := end; k < hi; k++ {
		if text[k] == '[' && span.PlaceholderAt(text, k) > 0 {
			hi = k
			break
		}
	}
	ctx := strings.ToLower(text[lo:start] + " " + text[end:hi])
	for _, w := range phoneWords {
		if strings.Contains(ctx, w) {
			return true
		}
	}
	return false
}

func hexGroupsRef(s string) int {
	n := 0
	for _, g := range strings.Split(s, ":") {
		if g != "" {
			n++
		}
	}
	return n
}

func appendIPv6Ref(out []span.Span, text string) []span.Span {
	next := 0
	for s := 0; s < len(text); s++ {
		if s < next || !ipv6StartRef(text, s, next) {
			continue
		}
		for e := min(len(text), s+maxIPv6); e > s; e-- {
			cand := text[s:e]
			if ipv6EndRef(text, s, e) && strings.Count(cand, ":") >= 2 && hexGroupsRef(cand) >= 3 {
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

// runTexts are digit runs longer than the groups runGroups holds at once
// (32), ending every way a run ends: at a separator, glued to a word, on
// an extension, at the end of the text; runs shaped like a vetoed
// number but one group longer; and vetoed numbers followed by one more
// group glued to a word, which is dropped (a CNPJ's sixth group).
var runTexts = []string{
	strings.Repeat("1-", 100), strings.Repeat("370 3911 ", 40) + "x", strings.Repeat("1.2.", 50) + "3a",
	strings.Repeat("4111 1111 1111 1111 ", 12) + "(020) 7946x12", strings.Repeat("12-", 33) + "555-123-4567x99",
	strings.Repeat("(0) ", 40) + "9", "529.982.247-25.1", "123-45-6789-1", strings.Repeat("370 3911, ", 30),
	"call 12.345.678/0001-00 9a", "12.345.678/0001-00-1st", "529.982.247-00 1st", "123-45-0000 2nd",
}

// TestMatchesReference holds Detect to the reference on the table cases,
// runTexts, the presidio-research set and synthetic cases, also glued with
// nothing, ':' and '1' so that addresses and digit runs meet at odd
// boundaries.
func TestMatchesReference(t *testing.T) {
	texts := append(caseTexts(), runTexts...)
	guardtest.MatchReference(t, guardtest.Corpus(t, texts, "", ":", "1"), Detect, detectRef)
}

func FuzzMatchesReference(f *testing.F) {
	seeds := append(caseTexts(), runTexts...)
	guardtest.FuzzReference(f, append(seeds, "fe80::1%eth0 1:2:3:4:5:6:7:8 a::b.c ::ffff:10.0.0.1 x.::1 12::34::56"), Detect, detectRef)
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

// FuzzPhoneContextMatchesReference holds phoneContext, which lower-cases
// the text around a number into a buffer on the stack, to phoneContextRef,
// which lower-cased a joined copy with strings.ToLower: on any text, from
// any start to any end, non-ASCII, invalid UTF-8 and the two runes that
// lower-case to ASCII letters included.
func FuzzPhoneContextMatchesReference(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.text, uint16(0), uint16(len(tt.text)))
	}
	for _, s := range []string{
		"TEXT 370 3911 ME", "text\xc4 370 3911 me", "WOR\u212a: 370 3911", "D\u0130AL 370 3911", "mob\u0130le 370 3911",
		"\xe2\x84 call 370 3911", "call\xc4\xb0 370 3911 [PHONE_1] phone", "ph\u00d6ne 370 3911 \xff\xfe",
	} {
		i := strings.Index(s, "370")
		f.Add(s, uint16(i), uint16(i+8))
	}
	f.Fuzz(func(t *testing.T, text string, start, end uint16) {
		s, e := int(start)%(len(text)+1), int(end)%(len(text)+1)
		if got, want := phoneContext(text, s, e), phoneContextRef(text, s, e); got != want {
			t.Fatalf("phoneContext(%q, %d, %d) = %v, reference %v", text, s, e, got, want)
		}
	})
}
