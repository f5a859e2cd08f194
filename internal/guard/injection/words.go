package injection

import (
	"unicode"
	"unicode/utf8"
)

// wordSplit is what the dense indicators need of a text's words, split as
// strings.Fields splits them: the count, the first headWords and the last
// tailWords. It replaces strings.Fields, which would allocate every word of
// a long prompt to look at 45 of them; it lives on the stack.
type wordSplit struct {
	n    int
	head [headWords]string
	ring [tailWords]string // word k at k % tailWords
}

const (
	headWords = 15
	tailWords = 30
)

// asciiSpace marks the ASCII bytes unicode.IsSpace accepts.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

func splitWords(s string, w *wordSplit) {
	for i := 0; i < len(s); {
		for i < len(s) { // skip the spaces before a word
			space, size := spaceAt(s, i)
			if !space {
				break
			}
			i += size
		}
		start := i
		for i < len(s) {
			space, size := spaceAt(s, i)
			if space {
				break
			}
			i += size
		}
		if i > start {
			w.add(s[start:i])
		}
	}
}

// spaceAt reports whether the rune at s[i] is a space, as strings.Fields
// decides, and its size.
func spaceAt(s string, i int) (bool, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiSpace[c], 1
	}
	return spaceRuneAt(s, i)
}

// spaceRuneAt is spaceAt's non-ASCII case, apart so that spaceAt inlines.
func spaceRuneAt(s string, i int) (bool, int) {
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
}

// edgeWords fills w with the first headWords and the last tailWords words
// of s, split as strings.Fields splits, reading s only as far as those
// words reach from either end. The tail words go in ring order reversed,
// which counting does not mind, and w.n is the number of them: the word
// count when it is below tailWords (and then the head is all of them).
func edgeWords(s string, w *wordSplit) {
	nh := 0
	for i := 0; nh < headWords && i < len(s); {
		for i < len(s) {
			space, size := spaceAt(s, i)
			if !space {
				break
			}
			i += size
		}
		start := i
		for i < len(s) {
			space, size := spaceAt(s, i)
			if space {
				break
			}
			i += size
		}
		if i > start {
			w.head[nh] = s[start:i]
			nh++
		}
	}
	nt := 0
	for j := len(s); nt < tailWords && j > 0; {
		for j > 0 {
			space, size := spaceBefore(s, j)
			if !space {
				break
			}
			j -= size
		}
		end := j
		for j > 0 {
			space, size := spaceBefore(s, j)
			if space {
				break
			}
			j -= size
		}
		if j < end {
			w.ring[nt] = s[j:end]
			nt++
		}
	}
	w.n = nt
}

// spaceBefore reports whether a space rune ends at s[j-1], and its size
// (1 when none does: words are walked back a byte at a time). A valid
// multi-byte encoding always starts a rune when s is decoded forward too
// (a lead byte is never a continuation), so this finds exactly the spaces
// strings.Fields finds. Every Unicode space is at most three bytes long.
func spaceBefore(s string, j int) (bool, int) {
	if c := s[j-1]; c < utf8.RuneSelf {
		return asciiSpace[c], 1
	}
	return spaceRuneBefore(s, j)
}

// spaceRuneBefore is spaceBefore's non-ASCII case.
func spaceRuneBefore(s string, j int) (bool, int) {
	for size := 2; size <= 3 && size <= j; size++ {
		if r, n := utf8.DecodeRuneInString(s[j-size:]); n == size && unicode.IsSpace(r) {
			return true, size
		}
	}
	return false, 1
}

func (w *wordSplit) add(f string) {
	if w.n < headWords {
		w.head[w.n] = f
	}
	w.ring[w.n%tailWords] = f
	w.n++
}

// first returns the first headWords words (fewer if the text has fewer).
func (w *wordSplit) first() []string { return w.head[:min(w.n, headWords)] }

// recent returns the last tailWords words, in ring order: enough for
// counting.
func (w *wordSplit) recent() []string { return w.ring[:min(w.n, tailWords)] }

// last returns the last tailWords words in order; tests use it.
func (w *wordSplit) last() []string {
	k := min(w.n, tailWords)
	out := make([]string, 0, k)
	for j := w.n - k; j < w.n; j++ {
		out = append(out, w.ring[j%tailWords])
	}
	return out
}
