package pii

import "github.com/bulwarkhq/bulwark/internal/guard/span"

// collector gathers the spans of one text, scanner after scanner. It grows
// its slice to what the density of spans since it last grew predicts for
// the rest of the text, not by append's quarter: on a text dense with
// spans (a number in every ten bytes) append allocated five times the
// slice it ended with, and the spans are most of what Detect allocates.
type collector struct {
	spans []span.Span
	n     int // the text's length
	// When the slice last grew, or the current scan began: its length
	// and the scan's position in the text.
	mark, markPos int
}

// begin starts a new scan of the text (scanners run one after another,
// each from its start).
func (c *collector) begin() { c.mark, c.markPos = len(c.spans), 0 }

// add appends s, found by a scan that has read the text up to s.End.
func (c *collector) add(s span.Span) {
	if len(c.spans) == cap(c.spans) {
		c.grow(s.End)
	}
	c.spans = append(c.spans, s)
}

// grow makes room for the spans the scan, at position pos, should still
// find at the density it has found them since the mark, with an eighth
// more for slack, and at least a quarter of those held (as append would
// grow), so that a text whose density rises grows geometrically still.
func (c *collector) grow(pos int) {
	n := len(c.spans)
	more := n / 4
	if found, read := n-c.mark, pos-c.markPos; found > 0 && read > 0 {
		rest := found * (c.n - pos) / read
		more = max(more, rest+rest/8)
	}
	spans := make([]span.Span, n, n+more+16)
	copy(spans, c.spans)
	c.spans, c.mark, c.markPos = spans, n, pos
}
