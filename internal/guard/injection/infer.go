package injection

import (
	"sync"
	"unsafe"

	"github.com/bulwarkhq/bulwark/internal/guard/normalize"
)

// This file is the request path of the model: the features eachFeature and
// Dense define (and cmd/guard-train trains on), summed in single passes
// over the normalised bytes without building feature lists, words or
// strings. The sums are int32 additions, which are associative even when
// they wrap, so visiting features in another order yields the same sum and
// hence the same float logit bit for bit; FuzzDetectMatchesReference checks
// it against the former implementation.

// scratch holds a normalised text between calls. It is owned by one Detect
// at a time (via scratchPool).
type scratch struct{ buf []byte }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledScratch bounds the buffers kept for reuse: a multi-megabyte
// prompt is scanned whole, but its buffer is left to the collector instead
// of pinning that memory in the pool.
const maxPooledScratch = 64 << 10

// padded normalises text into the scratch buffer between two spaces (the
// padding of eachFeature's n-grams) and returns a read-only string view of
// it. The view is valid until the scratch goes back to the pool, so no
// string derived from it may outlive the call that got the scratch.
func (sc *scratch) padded(text string) string {
	b := append(sc.buf[:0], ' ')
	b = normalize.AppendText(b, text)
	b = append(b, ' ')
	sc.buf = b
	return unsafe.String(unsafe.SliceData(b), len(b)) //nolint:gosec // G103: read-only view, dropped before the buffer is reused (see above)
}

func putScratch(sc *scratch) {
	if cap(sc.buf) <= maxPooledScratch {
		scratchPool.Put(sc)
	}
}

// logit is Logit on padded = " " + norm + " "; normalized says norm is
// normalize.Text's output (see denseCountsNormalized).
func (m *Model) logit(raw, padded string, normalized bool) float32 {
	w := (*[Dims]int8)(m.w)
	sum, n := ngramSum(w, padded)
	ws, wn := wordSum(w, padded)
	v := featureValue(n + wn)
	dense := denseSum(w, raw, padded[1:len(padded)-1], normalized)
	return m.bias + (float32(sum+ws)*v+float32(dense))*m.scale
}

// FNV-1a constants of hash.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// ngramStart[n-3][c] is the FNV state of an n-gram hash (seed n) after its
// first byte c: one multiplication fewer per n-gram.
var ngramStart = func() (t [3][256]uint32) {
	for n := range t {
		for c := range t[n] {
			h := uint32(fnvOffset) ^ uint32(n+3)*fnvPrime //nolint:gosec // G115: n < 3
			t[n][c] = (h ^ uint32(c)) * fnvPrime          //nolint:gosec // G115: c < 256
		}
	}
	return t
}()

// ngramSum sums the weights of t's byte 3-, 4- and 5-grams (eachFeature's
// first loop) in one pass: at each position the three hashes start from
// their seed's state after the first byte and share the loads.
func ngramSum(w *[Dims]int8, t string) (sum int32, n int) {
	s3, s4, s5 := &ngramStart[0], &ngramStart[1], &ngramStart[2]
	i := 0
	for ; i+5 <= len(t); i++ {
		g := t[i : i+5]
		c1, c2, c3, c4 := uint32(g[1]), uint32(g[2]), uint32(g[3]), uint32(g[4])
		h3 := ((s3[g[0]]^c1)*fnvPrime ^ c2) * fnvPrime
		h4 := ((s4[g[0]]^c1)*fnvPrime ^ c2) * fnvPrime
		h5 := ((s5[g[0]]^c1)*fnvPrime ^ c2) * fnvPrime
		h4 = (h4 ^ c3) * fnvPrime
		h5 = ((h5^c3)*fnvPrime ^ c4) * fnvPrime
		sum += int32(w[h3&(Dims-1)]) + int32(w[h4&(Dims-1)]) + int32(w[h5&(Dims-1)])
	}
	for ; i+3 <= len(t); i++ { // the last positions, too short for 5-grams
		sum += int32(w[hash(3, t[i:i+3])])
		if i+4 <= len(t) {
			sum += int32(w[hash(4, t[i:i+4])])
		}
	}
	return sum, max(len(t)-2, 0) + max(len(t)-3, 0) + max(len(t)-4, 0)
}

// wordSum sums the weights of t's word unigrams, shapes and bigrams
// (eachFeature's second loop) in one pass over the bytes: each word byte
// advances the unigram hash, the hash of the bigram that ends with this
// word (begun at the previous word) and that of the bigram that begins
// with it, instead of hashing every word three times.
func wordSum(w *[Dims]int8, t string) (sum int32, n int) {
	const seed11, seed12 = fnvOffset ^ 11*fnvPrime, fnvOffset ^ 12*fnvPrime
	var big uint32 // the bigram begun at the previous word, through the gap
	hasPrev := false
	for i := 0; i < len(t); {
		if t[i] == ' ' {
			big = (big ^ ' ') * fnvPrime
			i++
			continue
		}
		uni, next := uint32(seed11), uint32(seed12)
		shape, shapeLen := uint32(fnvOffset^13*fnvPrime), 0
		var last byte
		for ; i < len(t) && t[i] != ' '; i++ {
			c := uint32(t[i])
			uni = (uni ^ c) * fnvPrime
			next = (next ^ c) * fnvPrime
			big = (big ^ c) * fnvPrime
			if s := shapeClass[t[i]]; shapeLen < 8 && (shapeLen == 0 || s != last) {
				shape = (shape ^ uint32(s)) * fnvPrime
				last = s
				shapeLen++
			}
		}
		sum += int32(w[uni&(Dims-1)]) + int32(w[shape&(Dims-1)])
		n += 2
		if hasPrev {
			sum += int32(w[big&(Dims-1)])
			n++
		}
		big, hasPrev = next, true
	}
	return sum, n
}

// shapeClass is the class shapeHash maps a byte to: 'a' for lower-case
// and non-ASCII letters, '0' for digits, the byte itself otherwise.
var shapeClass = func() (t [256]byte) {
	for c := range t {
		b := byte(c)
		switch {
		case b >= 'a' && b <= 'z' || b >= 0x80:
			b = 'a'
		case b >= '0' && b <= '9':
			b = '0'
		}
		t[c] = b
	}
	return t
}()

// denseSum is the sum of the weights of Dense(raw, norm).
func denseSum(w *[Dims]int8, raw, norm string, normalized bool) int32 {
	var sum int32
	var counts [5]denseCount
	var k int
	if normalized {
		counts, k = denseCountsNormalized(raw, norm)
	} else {
		counts, k = denseCounts(raw, norm)
	}
	for _, c := range counts[:k] {
		b := &ordinalBuckets[c.seed-14]
		for k := 1; k <= min(c.count, 6); k++ {
			sum += int32(w[b[k]])
		}
	}
	return sum
}
