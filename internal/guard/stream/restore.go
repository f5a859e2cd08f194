package stream

import (
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard"
)

// maxPlaceholder bounds a placeholder's length ("[GENERIC_SECRET_12345]");
// an unclosed '[' further back than this cannot start one.
const maxPlaceholder = 48

// Restorer puts the originals back into a streamed response for a
// reversible policy: it replaces the request's placeholders ([EMAIL_1]) even
// when one is split across chunks, holding back at most an unclosed
// placeholder's worth of text. The concatenated output equals
// mask.Restore(whole text). Not safe for concurrent use.
type Restorer struct {
	mask *guard.Mask
	buf  string
}

// NewRestorer returns a restorer for the request's mask.
func NewRestorer(m *guard.Mask) *Restorer { return &Restorer{mask: m} }

// Write adds a chunk and returns the text that can be emitted.
func (r *Restorer) Write(chunk string) string {
	r.buf += chunk
	cut := len(r.buf)
	if i := strings.LastIndexByte(r.buf, '['); i >= 0 && len(r.buf)-i < maxPlaceholder && strings.IndexByte(r.buf[i:], ']') < 0 {
		cut = i
	}
	out := r.mask.Restore(r.buf[:cut])
	r.buf = r.buf[cut:]
	return out
}

// Flush returns whatever is still held.
func (r *Restorer) Flush() string {
	out := r.mask.Restore(r.buf)
	r.buf = ""
	return out
}
