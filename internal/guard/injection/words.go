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
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
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
