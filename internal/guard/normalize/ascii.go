package normalize

import "slices"

// AppendText appends Text(s) to dst and returns the extended slice. On
// ASCII input it allocates nothing once dst has room for len(s) more bytes,
// so a caller that normalises every request can reuse one buffer; other
// input takes the general path of Text.
func AppendText(dst []byte, s string) []byte {
	if !isASCII(s) {
		return append(dst, Text(s)...)
	}
	return appendASCII(dst, s)
}

// Byte classes of the ASCII fast path.
const (
	classSpace  = 1 << iota // whitespace unicode.IsSpace accepts
	classLetter             // a-z, A-Z: the ASCII letters unicode.IsLetter accepts
)

var asciiClass = func() (t [256]uint8) {
	for _, c := range []byte{'\t', '\n', '\v', '\f', '\r', ' '} {
		t[c] = classSpace
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = classLetter, classLetter
	}
	return t
}()

// appendASCII is Text for ASCII input, byte by byte, into dst: NFKC leaves
// ASCII as it is, no ASCII byte is invisible or a look-alike, and
// lower-casing is a bit flip, so only whitespace collapsing and the joining
// of spaced letters remain. The collapse counts one-letter words as it
// goes, so the join runs only on the rare text that has four in a row.
// FuzzASCIIPass checks it against pass and against the former
// implementation.
func appendASCII(dst []byte, s string) []byte {
	start := len(dst)
	// The output is at most as long as s: write it by index, not append.
	out := slices.Grow(dst, len(s))[:start+len(s)]
	o := start
	singles, spaced := 0, false
	for i := 0; i < len(s); {
		for i < len(s) && asciiClass[s[i]]&classSpace != 0 {
			i++
		}
		if i == len(s) {
			break
		}
		if o > start {
			out[o] = ' ' // one space for the run just skipped
			o++
		}
		w := i
		for ; i < len(s) && asciiClass[s[i]]&classSpace == 0; i++ {
			out[o] = asciiLower[s[i]]
			o++
		}
		singles = countSingle(singles, i-w, asciiClass[s[w]])
		spaced = spaced || singles >= 4
	}
	if spaced {
		return joinSingles(out[:o], start)
	}
	return out[:o]
}

// load8 returns s[i:i+8] as a little-endian word.
func load8(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// asciiLower maps A-Z to a-z and every other byte to itself.
var asciiLower = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			t[c] += 'a' - 'A'
		}
	}
	return t
}()

// countSingle extends the count of consecutive one-letter words by the
// word just ended, of wordLen bytes starting with a byte of class first, or
// resets it.
func countSingle(singles, wordLen int, first uint8) int {
	if wordLen == 1 && first&classLetter != 0 {
		return singles + 1
	}
	return 0
}

// joinSingles is joinSpaced in place on b[start:], the collapsed ASCII
// text (single spaces, none leading or trailing): runs of four or more
// one-letter words lose the spaces between them. The output never outruns
// the input, so it overwrites it front to back.
func joinSingles(b []byte, start int) []byte {
	out := b[:start]
	for i := start; i < len(b); {
		n, k := 0, i
		for k < len(b) && asciiClass[b[k]]&classLetter != 0 && (k+1 == len(b) || b[k+1] == ' ') {
			n++
			k += 2
		}
		if len(out) > start {
			out = append(out, ' ')
		}
		if n >= 4 {
			for x := i; x < k; x += 2 {
				out = append(out, b[x])
			}
			i = k
			continue
		}
		j := i
		for j < len(b) && b[j] != ' ' {
			j++
		}
		out = append(out, b[i:j]...)
		i = j + 1
	}
	return out
}
