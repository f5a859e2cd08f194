package guard

import (
	"strconv"
	"strings"
	"sync"
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
	ph := "[" + typ + "_" + strconv.Itoa(m.next[typ]) + "]"
	m.byValue[k] = ph
	if m.reversible {
		m.originals[ph] = original
	}
	return ph
}

// Restore replaces every placeholder of this mask found in text with the
// original it stands for. Without reversible masking it returns text as is.
func (m *Mask) Restore(text string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reversible || len(m.originals) == 0 || !strings.Contains(text, "[") {
		return text
	}
	pairs := make([]string, 0, 2*len(m.originals))
	for ph, orig := range m.originals {
		pairs = append(pairs, ph, orig)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// Len reports how many distinct values the mask has replaced.
func (m *Mask) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byValue)
}
