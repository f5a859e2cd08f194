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
	start := -1
	for i := 0; i < len(s); {
		var space bool
		size := 1
		if c := s[i]; c < utf8.RuneSelf {
			space = asciiSpace[c]
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			space = unicode.IsSpace(r)
		}
		switch {
		case space && start >= 0:
			w.add(s[start:i])
			start = -1
		case !space && start < 0:
			start = i
		}
		i += size
	}
	if start >= 0 {
		w.add(s[start:])
	}
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
