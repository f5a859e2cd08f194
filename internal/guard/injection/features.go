package injection

import "math"

// Dims is the number of hashed feature buckets of the linear model.
const Dims = 1 << 17

// Features returns the hashed feature buckets of normalised text and the
// value each present feature takes (1/sqrt(count of features), so long and
// short prompts weigh alike). Features are byte 3- to 5-grams of the text
// padded with spaces, plus word unigrams and bigrams. Duplicates are kept:
// a repeated n-gram counts again, which the training program mirrors.
func Features(norm string) ([]uint32, float32) {
	t := " " + norm + " "
	idx := make([]uint32, 0, 3*len(t)+len(t)/2)
	for n := 3; n <= 5; n++ {
		for i := 0; i+n <= len(t); i++ {
			idx = append(idx, hash(uint32(n), t[i:i+n]))
		}
	}
	prevStart, prevEnd := -1, -1
	for i := 0; i < len(t); {
		for i < len(t) && t[i] == ' ' {
			i++
		}
		j := i
		for j < len(t) && t[j] != ' ' {
			j++
		}
		if j > i {
			idx = append(idx, hash(11, t[i:j]), hash(13, shape(t[i:j])))
			if prevStart >= 0 {
				idx = append(idx, hash(12, t[prevStart:j]))
			}
			prevStart, prevEnd = i, j
		}
		i = j
	}
	_ = prevEnd
	if len(idx) == 0 {
		return idx, 0
	}
	return idx, float32(1 / math.Sqrt(float64(len(idx))))
}

// shape abstracts a word to its character classes (letters to "a", digits
// to "0", other bytes kept, repeats squeezed), so odd mixtures such as the
// "ilde]$." of an optimised adversarial suffix are features of their own.
func shape(w string) string {
	b := make([]byte, 0, 8)
	for i := 0; i < len(w) && len(b) < 8; i++ {
		c := w[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 0x80:
			c = 'a'
		case c >= '0' && c <= '9':
			c = '0'
		}
		if len(b) == 0 || b[len(b)-1] != c {
			b = append(b, c)
		}
	}
	return string(b)
}

// hash is FNV-1a over a seed and s, reduced to Dims buckets.
func hash(seed uint32, s string) uint32 {
	h := uint32(2166136261) ^ seed*16777619
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h & (Dims - 1)
}
