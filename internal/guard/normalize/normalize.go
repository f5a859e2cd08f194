// Package normalize undoes the cheap obfuscations attackers put in front of
// an injection detector: compatibility forms (full-width letters, ligatures),
// zero-width and bidirectional control characters, look-alike letters from
// other scripts, spaced-out letters, irregular whitespace, and base64, hex,
// URL-encoded or rot13 payloads.
//
// The output is for detection only; it is never sent anywhere and its
// offsets do not map back to the input. All functions are pure, linear in
// the input and safe for concurrent use.
package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Text returns s in NFKC form with invisible format characters removed,
// look-alike letters folded to Latin inside words that are Latin or
// entirely made of look-alikes, letters spaced out one by one joined, and
// every run of whitespace collapsed to one space. Case is lowered.
func Text(s string) string {
	// Lower-casing and folding can produce characters NFKC decomposes
	// further (Ŀ -> ŀ -> l·), so passes repeat until nothing changes; two
	// or three suffice in practice and the cap keeps the cost linear.
	if isASCII(s) {
		return string(appendASCII(make([]byte, 0, len(s)), s))
	}
	out := pass(s)
	if isASCII(out) {
		return out // nothing left for NFKC, case or look-alike folding to change
	}
	for range 3 {
		next := pass(out)
		if next == out {
			break
		}
		out = next
	}
	return out
}

func pass(s string) string {
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading whitespace
	word := make([]rune, 0, 32)
	flush := func() {
		foldWord(word)
		for _, r := range word {
			b.WriteRune(unicode.ToLower(r))
		}
		word = word[:0]
	}
	for _, r := range s {
		switch {
		case invisible(r):
			continue
		case unicode.IsSpace(r):
			flush()
			if !space {
				b.WriteByte(' ')
				space = true
			}
		default:
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
				flush()
				b.WriteRune(r)
			} else {
				word = append(word, r)
			}
			space = false
		}
	}
	flush()
	return joinSpaced(strings.TrimRight(b.String(), " "))
}

// invisible reports format characters that render as nothing: zero-width
// spaces and joiners, bidi embeddings, overrides and isolates, the BOM, soft
// hyphens, word joiners and tag characters.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x206F, r == 0xFEFF, r == 0x00AD, r == 0x180E,
		r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

// homoglyphs maps Cyrillic and Greek letters that look like Latin ones.
var homoglyphs = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ї': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd',
	'ԛ': 'q', 'ԝ': 'w', 'ү': 'y', 'һ': 'h', 'ɡ': 'g',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P',
	'С': 'C', 'Т': 'T', 'Х': 'X', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S', 'Ү': 'Y',
	'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v', 'ι': 'i', 'κ': 'k', 'τ': 't', 'υ': 'u',
	'χ': 'x', 'ε': 'e', 'ѵ': 'v',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M',
	'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
}

// foldWord replaces look-alikes in place when the word already contains a
// Latin letter or consists only of look-alikes, so genuine Russian or Greek
// words are left alone.
func foldWord(w []rune) {
	latin, other := false, false
	for _, r := range w {
		if r < utf8.RuneSelf {
			latin = true
			continue
		}
		if _, ok := homoglyphs[r]; ok {
			continue
		}
		if r < utf8.RuneSelf {
			latin = true
		} else if unicode.IsLetter(r) {
			other = true
		}
	}
	if other && !latin {
		return
	}
	for i, r := range w {
		if r < utf8.RuneSelf {
			continue
		}
		if l, ok := homoglyphs[r]; ok {
			w[i] = l
		}
	}
}

// joinSpaced joins runs of four or more single letters separated by single
// spaces or dots ("i g n o r e" -> "ignore").
func joinSpaced(s string) string {
	if !strings.Contains(s, " ") && !strings.Contains(s, ".") {
		return s
	}
	fields := strings.Split(s, " ")
	if len(fields) < 4 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(fields); {
		j := i
		for j < len(fields) && utf8.RuneCountInString(fields[j]) == 1 && isLetterField(fields[j]) {
			j++
		}
		if j-i >= 4 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.Join(fields[i:j], ""))
			i = j
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fields[i])
		i++
	}
	return b.String()
}

func isLetterField(f string) bool {
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsLetter(r)
}

// isASCII reports whether s is all ASCII, eight bytes at a time: every
// request's text passes here.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if load8(s, i)&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
