package injection

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Dims is the number of hashed feature buckets of the linear model.
const Dims = 1 << 17

// Features returns the hashed feature buckets of normalised text and the
// value each present feature takes (1/sqrt(count of features), so long and
// short prompts weigh alike). Features are byte 3- to 5-grams of the text
// padded with spaces, plus word unigrams, bigrams and shapes. Duplicates
// are kept: a repeated n-gram counts again, which the training program
// mirrors.
func Features(norm string) ([]uint32, float32) {
	idx := make([]uint32, 0, 4*len(norm)+8)
	eachFeature(norm, func(i uint32) { idx = append(idx, i) })
	return idx, featureValue(len(idx))
}

// featureValue is the value of each feature of a text with n of them.
func featureValue(n int) float32 {
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// eachFeature calls visit with the bucket of every feature of norm. Model
// inference sums weights through it without building the list Features
// returns, so both see exactly the same features.
func eachFeature(norm string, visit func(uint32)) {
	t := " " + norm + " "
	for n := 3; n <= 5; n++ {
		for i := 0; i+n <= len(t); i++ {
			visit(hash(uint32(n), t[i:i+n]))
		}
	}
	prevStart := -1
	for i := 0; i < len(t); {
		for i < len(t) && t[i] == ' ' {
			i++
		}
		j := i
		for j < len(t) && t[j] != ' ' {
			j++
		}
		if j > i {
			visit(hash(11, t[i:j]))
			visit(shapeHash(t[i:j]))
			if prevStart >= 0 {
				visit(hash(12, t[prevStart:j]))
			}
			prevStart = i
		}
		i = j
	}
}

// shapeHash is the bucket of a word's shape: its character classes
// (letters to "a", digits to "0", other bytes kept, repeats squeezed, at
// most 8), so odd mixtures such as the "ilde]$." of an optimised
// adversarial suffix are features of their own. It hashes as it goes
// instead of building the shape string.
func shapeHash(w string) uint32 {
	h := uint32(2166136261) ^ 13*16777619
	var last byte
	n := 0
	for i := 0; i < len(w) && n < 8; i++ {
		c := w[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 0x80:
			c = 'a'
		case c >= '0' && c <= '9':
			c = '0'
		}
		if n == 0 || last != c {
			h ^= uint32(c)
			h *= 16777619
			last = c
			n++
		}
	}
	return h & (Dims - 1)
}

// Dense returns feature buckets that take the value 1 whatever the text's
// length: ordinal indicators of how many of the last 30 words mix letters
// with bracket-like symbols, the signature of optimised adversarial
// suffixes ("ilde]$.", "[[There", "***Here<=") that n-gram averages dilute.
// On one-line texts two more count all such gibberish in the tail, and how
// much more of it the tail holds than the first 15 words: a harmful request
// in plain prose followed by an optimised suffix (GCG) has a clean head and
// a noisy tail, whereas code and data, which also carry symbols, are noisy
// throughout and come on several lines. A last group encodes the length.
func Dense(raw, norm string) []uint32 {
	out := make([]uint32, 0, 24)
	counts, k := denseCounts(raw, norm)
	for _, c := range counts[:k] {
		out = ordinal(out, c.seed, c.count)
	}
	return out
}

// denseCount is one group of Dense's indicators: its seed and the count
// whose ordinal indicators it sets.
type denseCount struct {
	seed  uint32
	count int
}

// denseCounts returns the counts behind Dense's indicators; inference sums
// their weights straight from the counts (see denseSum). The first k of
// out are set; an array, so that nothing is allocated.
func denseCounts(raw, norm string) (out [5]denseCount, k int) {
	var nw, rw wordSplit
	splitWords(norm, &nw)
	splitWords(raw, &rw)
	return countDense(&nw, &rw, raw)
}

// denseCountsNormalized is denseCounts for norm as package normalize
// writes it: words separated by single spaces, none at the ends, no other
// whitespace (FuzzText checks this). The word count is then a count of
// spaces, and only the words at both ends of either text are looked at.
func denseCountsNormalized(raw, norm string) (out [5]denseCount, k int) {
	var nw, rw wordSplit
	spacedWords(norm, &nw)
	edgeWords(raw, &rw)
	return countDense(&nw, &rw, raw)
}

// countDense computes the counts from the words of both texts.
func countDense(nw, rw *wordSplit, raw string) (out [5]denseCount, k int) {
	weird := countWeird(nw.recent())
	camel, symbols := countRaw(rw.recent())
	out[0] = denseCount{14, weird}
	out[1] = denseCount{15, camel}
	// Length in steps of 15 words (up to 90): persuasion-style jailbreaks
	// (PAIR) are long role-play set-ups, and the n-gram average alone
	// cannot tell a long text from a short one.
	out[2] = denseCount{18, nw.n / 15}
	if strings.Contains(raw, "\n") {
		return out, 3
	}
	// Gibberish: words mixing letters with bracket-like symbols, glued
	// camelCase words and runs of symbols.
	tail := weird + camel + symbols
	headCamel, headSymbols := countRaw(rw.first())
	head := countWeird(nw.first()) + headCamel + headSymbols
	out[3] = denseCount{16, tail}
	out[4] = denseCount{17, tail - 2*head}
	return out, 5
}

// Byte classes of weirdWord.
const (
	weirdSym    = 1 << iota // a bracket-like symbol
	weirdLetter             // an ASCII letter
	weirdHigh               // a byte of a non-ASCII rune
)

var weirdClass = func() (t [256]uint8) {
	for _, c := range []byte("[]{}()<>$@\\|^~*`=_#;%") {
		t[c] = weirdSym
	}
	for c := range t {
		switch {
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			t[c] = weirdLetter
		case c >= utf8.RuneSelf:
			t[c] = weirdHigh
		}
	}
	return t
}()

// weirdWord reports a word holding a bracket-like symbol and a letter. It
// looks at bytes: an ASCII byte always decodes as itself, even next to
// invalid UTF-8, so only a word with a symbol, no ASCII letter and some
// non-ASCII bytes needs its runes decoded.
func weirdWord(f string) bool {
	var cl uint8
	for i := 0; i < len(f); i++ {
		cl |= weirdClass[f[i]]
	}
	switch {
	case cl&weirdSym == 0:
		return false
	case cl&weirdLetter != 0:
		return true
	}
	return cl&weirdHigh != 0 && strings.IndexFunc(f, unicode.IsLetter) >= 0
}

func isSym(c byte) bool {
	return c > ' ' && c < 0x7f && !isWordByte(c)
}

// countRaw counts, among the last 30 of the given words, those gluing a
// lower-case letter to an upper-case one ("threeInner", "StringBuilder(@",
// common in optimised suffixes and rare in prose) and those with two
// adjacent punctuation symbols other than a repeated dot ("(@", "-->",
// "]\"", "}}"), walking each word once.
func countRaw(words []string) (camel, symbols int) {
	if len(words) > 30 {
		words = words[len(words)-30:]
	}
	for _, f := range words {
		c, s := rawSignals(f)
		camel += b2i(c)
		symbols += b2i(s)
	}
	return camel, symbols
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Byte classes of rawSignals.
const (
	rawLower = 1 << iota
	rawUpper
	rawSym // isSym
	rawDot
)

var rawClass = func() (t [256]uint8) {
	for c := range t {
		b := byte(c)
		switch {
		case b >= 'a' && b <= 'z':
			t[c] = rawLower
		case b >= 'A' && b <= 'Z':
			t[c] = rawUpper
		case b == '.':
			t[c] = rawSym | rawDot
		case isSym(b):
			t[c] = rawSym
		}
	}
	return t
}()

// rawSignals reports the two signals countRaw counts for one word.
// FuzzRawSignals holds it to the predicates it replaced.
func rawSignals(f string) (camel, symbols bool) {
	var all uint8
	for i := 0; i < len(f); i++ {
		all |= rawClass[f[i]]
	}
	// Most words have no symbol and not both cases of letters: one pass
	// without the pairwise tests settles them.
	if all&rawSym == 0 && all&(rawLower|rawUpper) != rawLower|rawUpper {
		return false, false
	}
	prev := rawClass[f[0]]
	for i := 1; i < len(f); i++ {
		cur := rawClass[f[i]]
		camel = camel || prev&rawLower != 0 && cur&rawUpper != 0
		symbols = symbols || prev&cur&rawSym != 0 && prev&cur&rawDot == 0
		prev = cur
	}
	return camel, symbols
}

// countWeird counts the weirdWord words among the last 30 of words; a
// direct call, so that weirdWord inlines.
func countWeird(words []string) int {
	if len(words) > 30 {
		words = words[len(words)-30:]
	}
	n := 0
	for _, f := range words {
		if weirdWord(f) {
			n++
		}
	}
	return n
}

// ordinal appends indicators "count >= k" for k = 1..min(count, 6).
func ordinal(out []uint32, seed uint32, count int) []uint32 {
	for k := 1; k <= min(count, 6); k++ {
		out = append(out, hash(seed, strconv.Itoa(k)))
	}
	return out
}

// ordinalBuckets[seed-14][k] is hash(seed, strconv.Itoa(k)) for Dense's
// seeds 14 to 18, so inference skips formatting and hashing.
var ordinalBuckets = func() (t [5][7]uint32) {
	for s := range t {
		for k := 1; k < len(t[s]); k++ {
			t[s][k] = hash(uint32(14+s), strconv.Itoa(k)) //nolint:gosec // G115: s < 5
		}
	}
	return t
}()

// hash is FNV-1a over a seed and s, reduced to Dims buckets.
func hash(seed uint32, s string) uint32 {
	h := uint32(2166136261) ^ seed*16777619
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h & (Dims - 1)
}
