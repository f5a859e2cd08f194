package guard

import (
	"strings"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Mask numbers the placeholders of one request ([EMAIL_1], [EMAIL_2], ...)
// so the same value always gets the same placeholder, and, when the policy
// is reversible, remembers which original each placeholder replaced so the
// response can be restored. A Mask lives for one request and is never
// persisted. It is safe for concurrent use.
type Mask struct {
	mu         sync.Mutex
	reversible bool
	next       map[string]int    // type -> last number used
	byValue    map[string]string // type+"\x00"+original -> placeholder
	originals  map[string]string // placeholder -> original (reversible only)
}

// NewMask returns an empty mask. With reversible false, Restore is a no-op.
func NewMask(reversible bool) *Mask {
	// The maps are made on the first placeholder: most requests have none.
	return &Mask{reversible: reversible}
}

// Placeholder returns the placeholder for original of type typ, numbering
// a new value after the last one of its type.
func (m *Mask) Placeholder(typ, original string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := typ + "\x00" + original
	if ph, ok := m.byValue[k]; ok {
		return ph
	}
	if m.next == nil {
		m.next, m.byValue, m.originals = map[string]int{}, map[string]string{}, map[string]string{}
	}
	m.next[typ]++
	ph := span.Placeholder(typ, m.next[typ])
	m.byValue[k] = ph
	if m.reversible {
		m.originals[ph] = original
	}
	return ph
}

// Restore replaces every placeholder of this mask found in text with the
// original it stands for. Without reversible masking it returns text as is.
//
// A placeholder is "[", a type and a number without brackets, and "]", so
// at most one can start at a '[': the text up to the first ']' after it,
// when no other '[' comes first. Restore looks each such candidate up in
// the mask, left to right, and leaves everything else as it is — what a
// strings.Replacer over every placeholder did, in time linear in the text
// whatever the mask's size. (Restore runs once per placeholder of an
// answer and once per streamed chunk: a replacer built per call cost
// chunks × placeholders.)
func (m *Mask) Restore(text string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reversible || len(m.originals) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.IndexByte(text[i:], '[')
		if j < 0 {
			break
		}
		open := i + j
		k := strings.IndexAny(text[open+1:], "[]")
		if k < 0 {
			break
		}
		end := open + 1 + k
		if text[end] == '[' {
			i = end
			continue
		}
		i = end + 1
		orig, ok := m.originals[text[open:i]]
		if !ok {
			continue
		}
		if last == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[last:open])
		b.WriteString(orig)
		last = i
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// Len reports how many distinct values the mask has replaced.
func (m *Mask) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byValue)
}
