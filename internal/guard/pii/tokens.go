package pii

import (
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// maxWindow bounds how many digit groups one entity may span ("+46 (0)8 928
// 571 38" is six), which keeps the window search over a long run linear.
const maxWindow = 8

type group struct{ start, end int }

// appendTokens walks the text once, word by word. Digit runs (digits joined
// by short separators) are matched against the numeric entity rules and
// words starting with two letters and two digits are tried as IBANs.
func appendTokens(out []span.Span, text string) []span.Span {
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
			out, end = appendRun(out, text, i)
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

func sepByte(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'
}

// appendRun parses the digit run starting at i and returns the index after
// it. Every byte of the run is read once; windows over its groups are
// bounded by maxWindow.
func appendRun(out []span.Span, text string, i int) ([]span.Span, int) {
	n := len(text)
	lead := i
	j := i
	if !isDigit(text[j]) {
		j++
		if text[i] == '(' && !areaCode(text, j) {
			lead = j // "(4111...)" is a parenthesised number, not "(020) 7946"
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
	// A run glued to a following letter is part of a word: drop its tail.
	if end < n && wordByte(text[end]) && extEnd(text, end) == 0 {
		for end < n && wordByte(text[end]) {
			end++
		}
		groups = groups[:len(groups)-1]
	}
	if vetoed(text, groups) {
		return out, end
	}
	for a := 0; a < len(groups); {
		matched := false
		start := windowStart(text, groups, a, lead)
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

// windowStart is where an entity starting at group a begins: its first
// digit, or the lead of the run ('+' or an area code's '(') for the first
// group. A later group opened by an area code's '(' starts there too: once
// the groups before it are redacted, that is where the next scan would
// start reading it, so it must be read the same way now.
func windowStart(text string, groups []group, a, lead int) int {
	s := groups[a].start
	switch {
	case a == 0:
		return lead
	case text[s-1] == '(' && areaCode(text, s):
		return s - 1
	}
	return s
}

// extEnd returns the end of the phone extension ("x123") at text[i], or 0
// if there is none. An extension glued to a following word is none: the
// number is then part of that word, as any digit run glued to a letter is.
// Taking it would end the phone inside a word, and once the phone was
// replaced the rest of the word would start a new one ("x12ghp_…" would
// leave a GitHub token at a word boundary).
func extEnd(text string, i int) int {
	if i+1 >= len(text) || text[i] != 'x' && text[i] != 'X' || !isDigit(text[i+1]) {
		return 0
	}
	j := i + 1
	for j < len(text) && isDigit(text[j]) {
		j++
	}
	if j < len(text) && wordByte(text[j]) {
		return 0
	}
	return j
}

// classify decides what the digit groups gs (starting at byte start, which
// may be a leading '+' or '(') are. It returns the type, a confidence and
// the end offset, or "" if they are none of the numeric entities.
func classify(text string, start int, gs []group) (string, float64, int) {
	var (
		dbuf    [maxWindow * 20]byte
		lensArr [maxWindow]int
		sepsArr [maxWindow]string
	)
	digits := dbuf[:0]
	lens := lensArr[:len(gs)]
	seps := sepsArr[:0]
	for k, g := range gs {
		if len(digits)+g.end-g.start > 19 {
			return "", 0, 0 // longer than any numeric entity
		}
		digits = append(digits, text[g.start:g.end]...)
		lens[k] = g.end - g.start
		if k > 0 {
			seps = append(seps, text[gs[k-1].end:g.start])
		}
	}
	d := string(digits)
	end := gs[len(gs)-1].end
	plus := text[start] == '+'
	paren := text[start] == '('
	shape := func(want ...int) bool {
		if len(want) != len(lens) {
			return false
		}
		for k := range want {
			if want[k] != lens[k] {
				return false
			}
		}
		return true
	}
	sepsAre := func(want ...string) bool {
		if len(want) != len(seps) {
			return false
		}
		for k := range want {
			if want[k] != seps[k] {
				return false
			}
		}
		return true
	}
	same := sameSeps(seps)
	switch {
	case plus || paren:
		// Only phones start with '+' or '('.
	case len(gs) == 4 && same == "." && ipv4(text, gs):
		return IPAddress, 0.9, end
	case shape(3, 3, 3, 2) && sepsAre(".", ".", "-"):
		if ValidCPF(d) {
			return CPF, 0.97, end
		}
		return "", 0, 0
	case shape(2, 3, 3, 4, 2) && sepsAre(".", ".", "/", "-"):
		if ValidCNPJ(d) {
			return CNPJ, 0.97, end
		}
		return "", 0, 0
	case shape(3, 2, 4) && (same == "-" || same == " "):
		if ValidSSN(d) {
			return USSSN, 0.85, end
		}
		return "", 0, 0
	case (len(gs) == 1 || same == " " || same == "-") && ValidCard(d):
		return CreditCard, 0.95, end
	case len(gs) == 1 && len(d) == 14 && ValidCNPJ(d):
		return CNPJ, 0.7, end
	case len(gs) == 1 && len(d) == 11 && ValidCPF(d):
		return CPF, 0.6, end
	}
	return phone(text, start, d, lens, seps, same, plus || paren, end)
}

// uncued is the confidence of a number shaped like a phone that only a cue
// nearby would make one ("370 3911" with no "phone" or "call" in reach).
// No threshold keeps it, but it is a span all the same, for two reasons.
// It takes its digit groups, so the rest of the run is read the same
// whether or not a cue is in reach, and a redaction that moves a cue out
// of reach (phoneContext stops at a placeholder) cannot make the groups
// after it fall into a different number. And a finding that overlaps it
// (an IPv6 address ending in its first group) is merged with it
// (span.ResolveRanked), so redaction never leaves half of it to be read
// as a new number.
const uncued = 0

// phone applies the phone rules: 7 to 15 digits, formatted like a phone
// number rather than a date, a decimal or a version.
func phone(text string, start int, d string, lens []int, seps []string, same string, prefixed bool, end int) (string, float64, int) {
	if len(d) < 7 || len(d) > 15 {
		return "", 0, 0
	}
	for _, s := range seps {
		if strings.IndexByte(s, '/') >= 0 {
			return "", 0, 0
		}
	}
	if x := extEnd(text, end); x > 0 {
		end = x
	}
	switch {
	case prefixed:
		return Phone, 0.85, end
	case len(lens) == 1:
		if len(d) >= 10 && len(d) <= 13 {
			return Phone, 0.6, end
		}
		return "", 0, 0
	case same == "." && len(lens) == 2:
		return "", 0, 0 // a decimal number
	case len(lens) >= 3 && lens[0] == 4 && lens[1] == 2 && lens[2] == 2 && seps[0] == "-":
		return "", 0, 0 // an ISO date, possibly with a time
	case len(lens) == 2 && len(d) >= 10:
		return Phone, 0.7, end
	case len(lens) == 2 || thousands(lens, same):
		// "370 3911" is as often a house number or a postcode as a phone:
		// claim it only when the text around says it is a phone.
		if phoneContext(text, start, end) {
			return Phone, 0.7, end
		}
		return Phone, uncued, end
	}
	return Phone, 0.75, end
}

// thousands reports digit grouping that also reads as a large number.
func thousands(lens []int, same string) bool {
	if same != " " && same != "." || lens[0] > 3 {
		return false
	}
	for _, l := range lens[1:] {
		if l != 3 {
			return false
		}
	}
	return true
}

func sameSeps(seps []string) string {
	if len(seps) == 0 {
		return ""
	}
	for _, s := range seps[1:] {
		if s != seps[0] {
			return "mixed"
		}
	}
	return seps[0]
}

func ipv4(text string, gs []group) bool {
	for _, g := range gs {
		if g.end-g.start > 3 {
			return false
		}
		v := 0
		for k := g.start; k < g.end; k++ {
			v = v*10 + int(text[k]-'0')
		}
		if v > 255 {
			return false
		}
	}
	return true
}

// matchIBAN tries an IBAN starting at i, in electronic form or printed in
// groups of four separated by single spaces. Case is ignored.
func matchIBAN(text string, i int) (int, bool) {
	n := len(text)
	if i+4 > n || !isAlpha(text[i+1]) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
		return 0, false
	}
	cc := strings.ToUpper(text[i : i+2])
	want, ok := ibanLengths[cc]
	if !ok {
		return 0, false
	}
	buf := make([]byte, 0, want)
	j := i
	for j < n && len(buf) < want {
		c := text[j]
		switch {
		case isAlnum(c):
			if c >= 'a' {
				c -= 'a' - 'A'
			}
			buf = append(buf, c)
			j++
		case c == ' ' && j+1 < n && isAlnum(text[j+1]) && len(buf)%4 == 0:
			j++
		default:
			return 0, false
		}
	}
	if len(buf) != want || j < n && wordByte(text[j]) || !ValidIBAN(string(buf)) {
		return 0, false
	}
	return j, true
}

// phoneWords are the cues that make an ambiguous digit group a phone number.
var phoneWords = []string{"phone", "call", "tel", "mobile", "cell", "fax", "contact", "number", "reach", "dial", "whatsapp", "sms", "text me", "ring", "office", "home", "work"}

// phoneContext looks at most 48 bytes back from start and 16 bytes on from
// end for a phone cue; the bounds keep the scan linear. Neither side reads
// past a redaction placeholder ([PHONE_1]): the placeholder is no cue, and
// one shorter than the value it replaced must not bring a cue within reach
// that was out of it. What lies between the number and the nearest
// placeholder stood at the same distance before redaction, so redacting
// redacted text finds no phone the first pass did not.
func phoneContext(text string, start, end int) bool {
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

// vetoed reports a run formatted exactly like a CPF, CNPJ or SSN whose check
// digits or allocation rules fail: it is a wrong or made-up number, and its
// tail must not be re-read as a phone number.
func vetoed(text string, gs []group) bool {
	if len(gs) < 3 || len(gs) > 5 {
		return false
	}
	var shape, seps, digits strings.Builder
	for k, g := range gs {
		n := g.end - g.start
		if n < 0 || n > 9 {
			return false // no vetoed format has a group this long; its length would not fit one digit
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

// areaCode reports 1 to 4 digits at j followed by ')'.
func areaCode(text string, j int) bool {
	k := j
	for k < len(text) && k-j <= 4 && isDigit(text[k]) {
		k++
	}
	return k > j && k-j <= 4 && k < len(text) && text[k] == ')'
}
