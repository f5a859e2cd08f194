package injection

import (
	"strings"
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
	for i := 0; ; {
		start, end := nextWord(s, i)
		if start == end {
			return
		}
		w.add(s[start:end])
		i = end
	}
}

// edgeWords fills w with the first headWords and the last tailWords words
// of s, split as strings.Fields splits, reading s only as far as those
// words reach from either end. The tail words go in ring order reversed,
// which counting does not mind, and w.n is the number of them: the word
// count when it is below tailWords (and then the head is all of them).
func edgeWords(s string, w *wordSplit) {
	for i, nh := 0, 0; nh < headWords; nh++ {
		start, end := nextWord(s, i)
		if start == end {
			break
		}
		w.head[nh] = s[start:end]
		i = end
	}
	nt := 0
	for j := len(s); nt < tailWords; nt++ {
		start, end := prevWord(s, j)
		if start == end {
			break
		}
		w.ring[nt] = s[start:end]
		j = start
	}
	w.n = nt
}

// spacedWords is edgeWords, with the true word count, for text whose words
// are separated by single spaces with none at either end and no other
// whitespace, as package normalize writes it: the scans are then searches
// for a byte.
func spacedWords(s string, w *wordSplit) {
	if s == "" {
		w.n = 0
		return
	}
	rest := s
	for nh := 0; nh < headWords; nh++ {
		k := strings.IndexByte(rest, ' ')
		if k < 0 {
			w.head[nh] = rest
			break
		}
		w.head[nh], rest = rest[:k], rest[k+1:]
	}
	rest = s
	for nt := 0; nt < tailWords; nt++ {
		k := strings.LastIndexByte(rest, ' ')
		w.ring[nt] = rest[k+1:]
		if k < 0 {
			break
		}
		rest = rest[:k]
	}
	w.n = strings.Count(s, " ") + 1
}

// byteClass sorts bytes for the word scans: ASCII word bytes (0), ASCII
// whitespace as unicode.IsSpace has it, and bytes of non-ASCII runes,
// which must be decoded to tell.
var byteClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = classMulti
		case asciiSpace[c]:
			t[c] = classSpace
		}
	}
	return t
}()

const (
	classSpace = 1 + iota
	classMulti
)

// nextWord returns the bounds of the first word of s at or after i, split
// as strings.Fields splits; start == end == len(s) when there is none.
func nextWord(s string, i int) (start, end int) {
	for i < len(s) { // skip the spaces before the word
		cl := byteClass[s[i]]
		if cl == 0 {
			break
		}
		size := 1
		if cl == classMulti {
			var space bool
			if space, size = spaceRuneAt(s, i); !space {
				break
			}
		}
		i += size
	}
	start = i
	for i < len(s) {
		cl := byteClass[s[i]]
		if cl == 0 {
			i++
			continue
		}
		if cl == classSpace {
			break
		}
		space, size := spaceRuneAt(s, i)
		if space {
			break
		}
		i += size
	}
	return start, i
}

// prevWord returns the bounds of the last word of s ending at or before j;
// start == end when there is none. It walks back byte by byte: a valid
// multi-byte encoding always starts a rune when s is decoded forward too
// (a lead byte is never a continuation byte), so the spaces it finds are
// exactly those strings.Fields finds.
func prevWord(s string, j int) (start, end int) {
	for j > 0 { // skip the spaces after the word
		cl := byteClass[s[j-1]]
		if cl == 0 {
			break
		}
		size := 1
		if cl == classMulti {
			var space bool
			if space, size = spaceRuneBefore(s, j); !space {
				break
			}
		}
		j -= size
	}
	end = j
	for j > 0 {
		cl := byteClass[s[j-1]]
		if cl == classSpace {
			break
		}
		if cl == classMulti {
			if space, _ := spaceRuneBefore(s, j); space {
				break
			}
		}
		j--
	}
	return j, end
}

// spaceRuneAt reports whether the non-ASCII rune at s[i] is a space, and
// its size.
func spaceRuneAt(s string, i int) (bool, int) {
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
}

// spaceRuneBefore reports whether a space rune ends at s[j-1] (a non-ASCII
// byte), and its size. Every Unicode space is at most three bytes long.
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
