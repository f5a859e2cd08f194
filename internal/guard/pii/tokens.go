package pii

import (
	"strings"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// maxWindow bounds how many digit groups one entity may span ("+46 (0)8 928
// 571 38" is six), which keeps the window search over a long run linear.
const maxWindow = 8

type group struct{ start, end int }

// appendTokens walks the text once, word by word. Digit runs (digits joined
// by short separators) are matched against the numeric entity rules and
// words starting with two letters and two digits are tried as IBANs.
func appendTokens(c *collector, text string) {
	n := len(text)
	for i := 0; i < n; {
		ch := text[i]
		switch {
		case isAlpha(ch):
			if e, ok := matchIBAN(text, i); ok {
				c.add(mk(IBAN, i, e, 0.97))
				i = e
				continue
			}
			for i < n && wordByte(text[i]) {
				i++
			}
		case isDigit(ch) || (ch == '+' || ch == '(') && i+1 < n && isDigit(text[i+1]):
			i = appendRun(c, text, i)
		case wordByte(ch):
			for i < n && wordByte(text[i]) {
				i++
			}
		default:
			i++
		}
	}
}

func sepByte(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'
}

// appendRun parses the digit run starting at i and returns the index after
// it. Every byte of the run is read once; windows over its groups are
// bounded by maxWindow, and only the groups a window can still reach are
// held (runGroups), so a run of a million groups costs no more memory than
// one of ten.
func appendRun(c *collector, text string, i int) int {
	lead := i
	j := i
	if !isDigit(text[j]) {
		j++
		if text[i] == '(' && !areaCode(text, j) {
			lead = j // "(4111...)" is a parenthesised number, not "(020) 7946"
		}
	}
	r := runGroups{text: text, next: j}
	// A run formatted exactly like a CPF, CNPJ or SSN has 3 to 5 groups,
	// and a sixth may still follow, glued to a word and so dropped ("…/0001-00
	// 9a"): once the sixth is read, whether the run ended at the fifth is
	// known.
	if gs := r.upTo(0, 5); r.done && vetoed(text, gs) {
		return r.end
	}
	for a := 0; ; {
		gs := r.upTo(a, a+maxWindow-1)
		if len(gs) == 0 {
			return r.end
		}
		matched := false
		start := windowStart(text, gs[0], a, lead)
		for b := len(gs) - 1; b >= 0; b-- {
			typ, conf, e := classify(text, start, gs[:b+1])
			if typ != "" {
				c.add(mk(typ, start, e, conf))
				a, matched = a+b+1, true
				break
			}
		}
		if !matched {
			a++
		}
	}
}

// runGroups reads the digit groups of one run as the windows over it need
// them, and keeps only those a window can still use. A run ends where no
// digit follows a separator of at most three bytes; a run glued to a
// following letter is part of a word, and its last group is dropped.
type runGroups struct {
	text       string
	buf        [4 * maxWindow]group // buf[:held] are the groups numbered base, base+1, …
	base, held int
	next       int  // where the next group starts
	done       bool // the run has ended: buf holds its last group
	end        int  // once done, the index after the run (and a glued word)
}

// upTo returns the run's groups a to b, fewer if the run ends sooner, and
// none when it has no group a. It forgets the groups before a: a must not
// decrease from one call to the next, and b-a must be less than len(buf).
func (r *runGroups) upTo(a, b int) []group {
	for !r.done && r.base+r.held <= b {
		if r.held == len(r.buf) {
			k := copy(r.buf[:], r.buf[a-r.base:r.held])
			r.base, r.held = a, k
		}
		r.read()
	}
	lo, hi := a-r.base, min(b+1-r.base, r.held)
	if lo >= hi {
		return nil
	}
	return r.buf[lo:hi]
}

// read appends the next group, and when it is the last applies the rule
// for a run glued to a word.
func (r *runGroups) read() {
	text, n := r.text, len(r.text)
	s, j := r.next, r.next
	for j < n && isDigit(text[j]) {
		j++
	}
	r.buf[r.held] = group{s, j}
	r.held++
	k := j
	for k < n && k-j < 3 && sepByte(text[k]) {
		k++
	}
	if k > j && k < n && isDigit(text[k]) {
		r.next = k
		return
	}
	r.done, r.end = true, j
	// A run glued to a following letter is part of a word: drop its tail.
	if j < n && wordByte(text[j]) && extEnd(text, j) == 0 {
		for r.end < n && wordByte(text[r.end]) {
			r.end++
		}
		r.held--
	}
}

// windowStart is where an entity starting at group g, the a-th of its run,
// begins: its first digit, or the lead of the run ('+' or an area code's
// '(') for the first group. A later group opened by an area code's '('
// starts there too: once the groups before it are redacted, that is where
// the next scan would start reading it, so it must be read the same way
// now.
func windowStart(text string, g group, a, lead int) int {
	s := g.start
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

// cuesByFirst lists the phoneWords by their first byte.
var cuesByFirst = func() (t [256][]string) {
	for _, w := range phoneWords {
		t[w[0]] = append(t[w[0]], w)
	}
	return t
}()

// phoneContext looks at most 48 bytes back from start and 16 bytes on from
// end for a phone cue; the bounds keep the scan linear. Neither side reads
// past a redaction placeholder ([PHONE_1]): the placeholder is no cue, and
// one shorter than the value it replaced must not bring a cue within reach
// that was out of it. What lies between the number and the nearest
// placeholder stood at the same distance before redaction, so redacting
// redacted text finds no phone the first pass did not.
//
// The cue may be in any case: both sides, joined by a space, are read as
// strings.ToLower would write them, into a buffer on the stack (a number
// in every ten bytes made the copies most of the detector's memory).
func phoneContext(text string, start, end int) bool {
	lo, hi := max(0, start-48), min(len(text), end+16)
	for k := start; k > lo; {
		i := strings.LastIndexByte(text[lo:k], ']')
		if i < 0 {
			break
		}
		k = lo + i
		if span.PlaceholderBefore(text, k+1) {
			lo = k + 1
			break
		}
	}
	for k := end; k < hi; k++ {
		i := strings.IndexByte(text[k:hi], '[')
		if i < 0 {
			break
		}
		k += i
		if span.PlaceholderAt(text, k) > 0 {
			hi = k
			break
		}
	}
	var buf [48 + 1 + 16]byte
	ctx := appendFolded(buf[:0], text[lo:start])
	ctx = append(ctx, ' ')
	ctx = appendFolded(ctx, text[end:hi])
	for i, c := range ctx {
		for _, w := range cuesByFirst[c] {
			if len(ctx)-i >= len(w) && string(ctx[i:i+len(w)]) == w {
				return true
			}
		}
	}
	return false
}

// appendFolded appends one byte per rune of s (an invalid byte is a rune
// of its own, as in a range loop): the rune lower-cased when that is ASCII
// (unicode.ToLower maps only ASCII letters, U+0130 and the Kelvin sign
// U+212A there), else 0, which no cue holds. An ASCII cue is in
// strings.ToLower(s) exactly where it is in the result, since the UTF-8
// of a non-ASCII rune holds no ASCII byte.
func appendFolded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return appendFoldedRunes(dst, s[i:])
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendFoldedRunes is appendFolded for text that is not all ASCII.
func appendFoldedRunes(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch c := s[i]; {
		case c < utf8.RuneSelf:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		case r == '\u0130':
			dst = append(dst, 'i')
		case r == '\u212a':
			dst = append(dst, 'k')
		default:
			dst = append(dst, 0)
		}
		i += w
	}
	return dst
}

// vetoed reports a run formatted exactly like a CPF, CNPJ or SSN whose check
// digits or allocation rules fail: it is a wrong or made-up number, and its
// tail must not be re-read as a phone number.
func vetoed(text string, gs []group) bool {
	if len(gs) < 3 || len(gs) > 5 {
		return false
	}
	var shape, seps [5]byte // group lengths; the separators' bytes
	var digits [5 * 9]byte
	ns, nd := 0, 0
	for k, g := range gs {
		n := g.end - g.start
		if n < 0 || n > 9 {
			return false // no vetoed format has a group this long; its length would not fit one digit
		}
		shape[k] = byte('0' + n)
		nd += copy(digits[nd:], text[g.start:g.end])
		if k > 0 {
			sep := text[gs[k-1].end:g.start]
			if len(sep) != 1 {
				return false // every vetoed format has one-byte separators
			}
			seps[ns] = sep[0]
			ns++
		}
	}
	d := digits[:nd]
	switch string(shape[:len(gs)]) + " " + string(seps[:ns]) {
	case "3332 ..-":
		return !ValidCPF(string(d))
	case "23342 ../-":
		return !ValidCNPJ(string(d))
	case "324 --":
		return !ValidSSN(string(d))
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
