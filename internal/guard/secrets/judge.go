package secrets

import (
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// judge decides whether the first maxJudged bytes of a value assigned to
// a secret-looking name look secret. For a password's name, any 6 bytes
// or more that are not a placeholder do; for another name, 16 bytes or
// more, not a placeholder, of two character classes or more (lower case,
// upper case, digits, other) and at least 3 bits of entropy per byte. A
// placeholder starts with "$", "{{", "<", "[" or "%", or holds one of
// placeholderWords in any case.
//
// A value holding many assignments ("key=key=key=…") is judged once per
// assignment, each time on its first maxJudged bytes from where that
// assignment's value starts. Those windows only move forward, so instead of
// reading 512 bytes per assignment (3 s for 8 MB of "key="), the judge
// slides one window over the text: the bytes that enter it are counted in
// and the bytes that leave it counted out, and each placeholder word is
// searched for once, from where its last search stopped.
// FuzzMatchesReference holds the verdicts to the rule written plainly
// (looksSecretRef).
type judge struct {
	text   string
	s, e   int // the window text[s:e] counted in
	counts [256]int32
	class  [4]int32 // lower, upper, digit, other (as classes counts them)
	clog   int64    // the sum of clogs[c] over counts
	words  [len(placeholderWords)]search
}

// A judge keeps one bit per placeholder word in a uint16.
var _ [16 - len(placeholderWords)]struct{}

// search is what a placeholder word's search knows: the first place at or
// after the window's start where the word is (start, end; start -1 for
// none yet), having tried every place below tried.
type search struct{ start, end, tried int }

// clogScale is the fixed point of clogs: 2^40, so that the sum over a
// window of maxJudged bytes (at most 512·9·2^40) fits in an int64.
const clogScale = 1 << 40

// clogs[c] is c·log2(c) in fixed point, rounded: the window's entropy is
// log2(n) − Σ c·log2(c) / n, and integers can be counted in and out
// without the sum drifting.
var clogs = func() (t [maxJudged + 1]int64) {
	for c := 2; c <= maxJudged; c++ {
		t[c] = int64(math.Round(float64(c) * math.Log2(float64(c)) * clogScale))
	}
	return t
}()

// newJudge returns a judge of values in text.
func newJudge(text string) *judge {
	j := &judge{text: text}
	j.forget()
	return j
}

// forget clears what the placeholder words' searches know.
func (j *judge) forget() {
	for k := range j.words {
		j.words[k] = search{start: -1}
	}
}

// looksSecret judges text[s:e], assigned to a name that is a password's
// (pass) or not. It is fastest when each window starts at or after the
// last one's start and ends at or after its end, as the windows of
// appendAssignments do.
func (j *judge) looksSecret(pass bool, s, e int) bool {
	if e-s < minSecretLen(pass) {
		return false
	}
	j.slide(s, e)
	if j.placeholder() {
		return false
	}
	return pass || j.classes() >= 2 && j.entropyAtLeast3()
}

// slide moves the window to text[s:e].
func (j *judge) slide(s, e int) {
	if s < j.s {
		j.forget() // what the searches know holds from the old start on
	}
	if s < j.s || s >= j.e {
		for i := j.s; i < j.e; i++ {
			j.count(j.text[i], -1)
		}
		j.s, j.e = s, s
	}
	for ; j.s < s; j.s++ {
		j.count(j.text[j.s], -1)
	}
	for ; j.e > e; j.e-- {
		j.count(j.text[j.e-1], -1)
	}
	for ; j.e < e; j.e++ {
		j.count(j.text[j.e], +1)
	}
}

func (j *judge) count(c byte, d int32) {
	n := j.counts[c]
	j.clog += clogs[n+d] - clogs[n]
	j.counts[c] = n + d
	j.class[classOf(c)] += d
}

func classOf(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return 0
	case c >= 'A' && c <= 'Z':
		return 1
	case c >= '0' && c <= '9':
		return 2
	}
	return 3
}

// classes is how many character classes the window holds.
func (j *judge) classes() int {
	n := 0
	for _, k := range j.class {
		if k > 0 {
			n++
		}
	}
	return n
}

// entropyAtLeast3 reports whether the window has 3 bits of entropy per
// byte or more. The fixed-point sum gives the entropy to within 1e-12
// bits of entropyOf (TestEntropyEstimateWithinMargin); only a window
// within 1e-6 of 3 bits is measured byte by byte (entropyOf), so the
// verdict is the one entropyOf gives, to the last bit.
func (j *judge) entropyAtLeast3() bool {
	n := float64(j.e - j.s)
	h := math.Log2(n) - float64(j.clog)/clogScale/n
	switch {
	case h > 3+1e-6:
		return true
	case h < 3-1e-6:
		return false
	}
	return entropyOf(&j.counts, j.e-j.s) >= 3.0
}

// placeholder reports whether the window is a placeholder.
func (j *judge) placeholder() bool {
	v := j.text[j.s:j.e]
	// Only an ASCII byte lower-cases to these, and only to itself.
	if strings.HasPrefix(v, "$") || strings.HasPrefix(v, "{{") || strings.HasPrefix(v, "<") || strings.HasPrefix(v, "[") || strings.HasPrefix(v, "%") {
		return true
	}
	return j.holdsWord()
}

// holdsWord reports whether strings.ToLower(window) contains a
// placeholder word: whether, for some word, the first place at or after
// the window's start where it is (foldedAt) ends inside the window. A
// word's search goes on from where its last one stopped, and the words
// still searched for are looked for together, byte by byte, by their
// first bytes (wordsByFirst): each word is looked for at each byte of a
// value once, however many windows hold that byte.
func (j *judge) holdsWord() bool {
	var searching uint16
	from := j.e
	for k := range j.words {
		f := &j.words[k]
		if f.start >= j.s {
			if f.end <= j.e {
				return true
			}
			continue // its first place in the window's reach ends past it
		}
		f.start, f.tried = -1, max(f.tried, j.s)
		if f.tried < j.e {
			searching |= 1 << k
			from = min(from, f.tried)
		}
	}
	i := from
	for ; i < j.e && searching != 0; i++ {
		for m := wordsByFirst[j.text[i]] & searching; m != 0; m &= m - 1 {
			k := bits.TrailingZeros16(m)
			f := &j.words[k]
			if i < f.tried {
				continue
			}
			if end := foldedAt(j.text, i, placeholderWords[k]); end > 0 {
				f.start, f.end, f.tried = i, end, i+1
				searching &^= 1 << k
				if end <= j.e {
					j.tried(searching, i) // some may not have been tried at i
					return true
				}
			}
		}
	}
	j.tried(searching, i)
	return false
}

// tried records that the words still searched for have been tried below i.
func (j *judge) tried(searching uint16, i int) {
	for ; searching != 0; searching &= searching - 1 {
		f := &j.words[bits.TrailingZeros16(searching)]
		f.tried = max(f.tried, i)
	}
}

// wordsByFirst[c] has bit k set when placeholder word k may start with
// byte c: its first letter in either case, or the first byte of the one
// non-ASCII rune that lower-cases to it (see foldedAt).
var wordsByFirst = func() (t [256]uint16) {
	for k, w := range placeholderWords {
		c := w[0]
		t[c] |= 1 << k
		if 'a' <= c && c <= 'z' {
			t[c-('a'-'A')] |= 1 << k
		}
		switch c {
		case 'i':
			t["\u0130"[0]] |= 1 << k
		case 'k':
			t["\u212a"[0]] |= 1 << k
		}
	}
	return t
}()

// foldedAt returns the end of the runes starting at text[i] that
// unicode.ToLower turns into the ASCII word w, or 0 if they do not. Only
// ASCII letters, U+0130 (to 'i') and the Kelvin sign U+212A (to 'k')
// lower-case to ASCII. Since no ASCII byte is part of a longer rune, a
// lead byte always starts one and a continuation byte matches nothing, a
// match found at any byte is one that strings.ToLower of the window shows,
// if it ends inside the window.
func foldedAt(text string, i int, w string) int {
	for k := 0; k < len(w); k++ {
		if i >= len(text) {
			return 0
		}
		c := text[i]
		switch {
		case c < utf8.RuneSelf:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			i++
		case strings.HasPrefix(text[i:], "\u0130"):
			c, i = 'i', i+len("\u0130")
		case strings.HasPrefix(text[i:], "\u212a"):
			c, i = 'k', i+len("\u212a")
		default:
			return 0
		}
		if c != w[k] {
			return 0
		}
	}
	return i
}
