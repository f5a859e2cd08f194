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

// Only the low 17 bits of an FNV state reach a bucket (Dims is 1<<17), and
// those depend only on the low 17 bits of the state before: xor with a byte
// leaves the higher bits alone, and the low bits of a product depend only
// on the low bits of its factors. So the n-gram hashes run on 17-bit states
// with the prime reduced to 17 bits (403), whose products take at most 26
// bits, and the 4- and 5-gram hashes of a position, which read the same
// bytes in the same order, share one 64-bit word: two lanes of 32 bits,
// multiplied together and masked back to 17 bits after every step.
const (
	lane17  = Dims - 1
	prime17 = fnvPrime & lane17
	lanes   = lane17 | lane17<<32
	// both puts a byte in both lanes.
	both = 1 | 1<<32
)

// ngramStart[c] holds, after a first byte c, the 17-bit states of the
// 3-gram hash (seed 3) in [0] and of the 4- and 5-gram hashes (seeds 4 and
// 5) in the two lanes of [1].
var ngramStart = func() (t [256][2]uint64) {
	for c := range t {
		st := func(n uint32) uint64 {
			h := (uint32(fnvOffset) ^ n*fnvPrime ^ uint32(c)) * fnvPrime //nolint:gosec // G115: c < 256
			return uint64(h & lane17)
		}
		t[c] = [2]uint64{st(3), st(4) | st(5)<<32}
	}
	return t
}()

// ngramSum sums the weights of t's byte 3-, 4- and 5-grams (eachFeature's
// first loop) in one pass: six multiplications a position instead of
// twelve (see above).
func ngramSum(w *[Dims]int8, t string) (sum int32, n int) {
	i := 0
	for ; i+5 <= len(t); i++ {
		g := t[i : i+5]
		st := &ngramStart[g[0]]
		c1, c2, c3 := uint64(g[1]), uint64(g[2]), uint64(g[3])
		h3 := ((st[0]^c1)*prime17&lane17 ^ c2) * prime17
		x := (st[1] ^ c1*both) * prime17 & lanes
		x = (x ^ c2*both) * prime17 & lanes
		x = (x ^ c3*both) * prime17 & lanes
		h5 := (x>>32 ^ uint64(g[4])) * prime17
		sum += int32(w[h3&lane17]) + int32(w[x&lane17]) + int32(w[h5&lane17])
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
