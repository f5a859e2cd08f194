package injection

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// modelFile holds the weights written by cmd/guard-train.
//
//go:embed model.bin
var modelFile []byte

// Model is a logistic-regression classifier over hashed features. It is
// immutable after loading and safe for concurrent use.
type Model struct {
	scale     float32 // weight = int8 * scale
	bias      float32
	threshold float32 // logit at which the tuned operating point sits
	w         []int8
}

const modelMagic = "BWINJ1\x00\x00"

// ErrBadModel is returned when a weights file is malformed.
var ErrBadModel = errors.New("injection: malformed model file")

// ParseModel decodes a weights file: magic, dims (uint32), scale, bias and
// threshold (float32, little endian), then dims int8 weights.
func ParseModel(b []byte) (*Model, error) {
	const hdr = len(modelMagic) + 16
	if len(b) < hdr || string(b[:len(modelMagic)]) != modelMagic {
		return nil, ErrBadModel
	}
	le := binary.LittleEndian
	p := len(modelMagic)
	dims := le.Uint32(b[p:])
	if dims != Dims || len(b) != hdr+int(dims) {
		return nil, fmt.Errorf("%w: %d weights for %d dims", ErrBadModel, len(b)-hdr, dims)
	}
	m := &Model{
		scale:     math.Float32frombits(le.Uint32(b[p+4:])),
		bias:      math.Float32frombits(le.Uint32(b[p+8:])),
		threshold: math.Float32frombits(le.Uint32(b[p+12:])),
		w:         make([]int8, dims),
	}
	for i := range m.w {
		m.w[i] = int8(b[hdr+i]) //nolint:gosec // G115: deliberate two's-complement reinterpretation; every byte is a valid int8 weight
	}
	return m, nil
}

// EncodeModel is ParseModel's inverse; cmd/guard-train uses it.
func EncodeModel(w []float32, bias, threshold float32) []byte {
	var maxAbs float32
	for _, v := range w {
		maxAbs = max(maxAbs, float32(math.Abs(float64(v))))
	}
	scale := maxAbs / 127
	if scale == 0 {
		scale = 1
	}
	le := binary.LittleEndian
	b := []byte(modelMagic)
	b = le.AppendUint32(b, uint32(len(w))) //nolint:gosec // G115: w has one weight per feature (Dims), far below 2^32
	b = le.AppendUint32(b, math.Float32bits(scale))
	b = le.AppendUint32(b, math.Float32bits(bias))
	b = le.AppendUint32(b, math.Float32bits(threshold))
	for _, v := range w {
		// |v/scale| <= 127 because scale = maxAbs/127; the byte stores the
		// int8 in two's complement, which ParseModel reinterprets.
		b = append(b, byte(int8(math.Round(float64(v/scale))))) //nolint:gosec // G115: in [-127, 127], see above
	}
	return b
}

// Logit returns the raw model output for a text and its normalised form.
func (m *Model) Logit(raw, norm string) float32 { return m.logit(raw, pad(norm), false) }

// Score maps the logit to (0, 1) so that the tuned operating point is 0.5.
func (m *Model) Score(raw, norm string) float64 { return m.score(raw, pad(norm), false) }

// score is Score on the padded norm (see logit).
func (m *Model) score(raw, padded string, normalized bool) float64 {
	return 1 / (1 + math.Exp(-float64(m.logit(raw, padded, normalized)-m.threshold)))
}
