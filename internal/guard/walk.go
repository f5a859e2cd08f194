package guard

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays the walk takes:
// it recurses once per level, and the bound keeps a hostile body from
// exhausting the stack.
const MaxDepth = 256

// Errors of the walk. The engine never forwards what it could not scan.
var (
	// ErrInvalidJSON is returned for a body that is not one well-formed
	// JSON value.
	ErrInvalidJSON = errors.New("guard: request body is not valid JSON")
	// ErrTooDeep is returned for valid JSON nested deeper than MaxDepth.
	// It wraps ErrInvalidJSON, so that whoever refuses a body the walk
	// could not take refuses this one too (never forwarding it unscanned);
	// check it first to tell the client what is wrong.
	ErrTooDeep = fmt.Errorf("%w: nested more than %d levels deep", ErrInvalidJSON, MaxDepth)
)

// leaf is one JSON string (value or key) found by the walk.
type leaf struct {
	at         ref
	start, end int // raw token bounds in the body, quotes included
	text       string
	key        bool
}

// skipped records content the walk did not scan because it is an image,
// audio, file or binary document.
type skipped struct {
	at   ref
	kind string
}

// unscannable reports content-block types whose payload is not text.
func unscannable(typ string) bool {
	switch typ {
	case "image_url", "image", "input_image", "input_audio", "audio", "file", "input_file":
		return true
	}
	return false
}

// walker is a single-pass JSON scanner that records every string with
// where it sits and its raw byte range. It does not build a tree: memory is
// proportional to the strings found, time to the body length.
//
// The walk costs a few allocations per body, not per string: it copies the
// body into one string once and slices every unescaped text and key out of
// it. It writes no path: a string's place is a ref to a node (an object
// member, or an array element that holds strings), and a node holds only
// its own segment and its parent. A path is written out only when someone
// needs it (a finding, a trust decision; see pathArena), so its cost never
// multiplies by the number of siblings: a key of k bytes over an array of
// n numbers once cost n × k bytes of paths.
type walker struct {
	s       string // the body, copied once
	pos     int
	leaves  []leaf
	skipped []skipped
	nodes   []node
	paths   pathArena
}

// root is the node of the body itself, whose path is ""; noNode is none.
const (
	root   int32 = -1
	noNode int32 = -2
)

// node is an object member or an array element that holds strings.
type node struct {
	seg    string // the member's key, escaped (escapeKey); "" for an element
	parent int32  // root for a top-level member or element
	index  int32  // the element's index; -1 for a member
	// anchor is the node's ancestor two segments deep, or the node itself
	// when it is at most that deep: what the trust function is asked about.
	anchor int32
	trust  memo // the answer, for an anchor asked already (pathArena.trustOf)
}

// ref is where a value sits: node n itself (i < 0) or element i of the
// array at node n (an element that is a string gets no node of its own).
type ref struct{ n, i int32 }

// maxBody bounds the body the walk takes, so node numbers and indexes fit
// an int32 (far above any body cap the gateway allows).
const maxBody = 1<<31 - 1

func walkJSON(data []byte) (*walker, error) {
	if len(data) > maxBody {
		return nil, fmt.Errorf("%w: body over 2 GiB", ErrInvalidJSON)
	}
	// Every leaf is a quoted string: the quote count bounds the leaves (an
	// escaped quote only makes it an overestimate), so leaves never grow.
	quotes := bytes.Count(data, []byte{'"'})
	w := &walker{s: string(data), leaves: make([]leaf, 0, quotes/2)}
	// Room for a node per key (at most one per two quotes) and never more
	// than one per 8 bytes of body: one allocation for a typical body,
	// doubling beyond.
	w.nodes = make([]node, 0, min(quotes/2, len(data)/8)+1)
	w.ws()
	if _, err := w.value(ref{root, -1}, 0); err != nil {
		return nil, err
	}
	w.ws()
	if w.pos != len(w.s) {
		return nil, fmt.Errorf("%w: trailing data at offset %d", ErrInvalidJSON, w.pos)
	}
	return w, nil
}

func (w *walker) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, w.pos)
}

// tooDeep is the error of a container opened inside MaxDepth others.
func (w *walker) tooDeep() error {
	return fmt.Errorf("%w at offset %d", ErrTooDeep, w.pos)
}

func (w *walker) ws() {
	for w.pos < len(w.s) {
		switch w.s[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// addNode adds a node under parent and returns its number.
func (w *walker) addNode(parent int32, seg string, index int32) int32 {
	id := int32(len(w.nodes)) //nolint:gosec // G115: fewer nodes than body bytes, and walkJSON takes at most maxBody
	anchor := id
	if parent != root && w.nodes[parent].parent != root {
		anchor = w.nodes[parent].anchor
	}
	w.nodes = append(w.nodes, node{seg: seg, parent: parent, index: index, anchor: anchor})
	return id
}

// node returns the node of the value at *at, making one for an array
// element (and rewriting *at to name it): an element gets a node only
// when something inside it needs a parent.
func (w *walker) node(at *ref) int32 {
	if at.i >= 0 {
		at.n, at.i = w.addNode(at.n, "", at.i), -1
	}
	return at.n
}

// anchor is the ref whose path roles is asked about for a string at r: r
// cut after its second segment. An element at most two segments deep is
// its own anchor; anything deeper shares its two-segment node's.
func (w *walker) anchor(r ref) ref {
	switch {
	case r.n == root:
		return r
	case r.i < 0:
		return ref{w.nodes[r.n].anchor, -1}
	case w.nodes[r.n].parent == root:
		return r
	}
	return ref{w.nodes[r.n].anchor, -1}
}

// pathLen is the length of r's path (segments joined with '.').
func (w *walker) pathLen(r ref) int {
	n := 0
	if r.i >= 0 {
		n = digits(r.i)
		if r.n != root {
			n++
		}
	}
	for id := r.n; id != root; {
		nd := &w.nodes[id]
		if nd.index < 0 {
			n += len(nd.seg)
		} else {
			n += digits(nd.index)
		}
		if id = nd.parent; id != root {
			n++
		}
	}
	return n
}

// writePath writes r's path to b: gjson style, "messages.1.content".
func (w *walker) writePath(b *strings.Builder, r ref) {
	if r.n != root {
		w.writeNode(b, r.n)
		if r.i >= 0 {
			b.WriteByte('.')
		}
	}
	if r.i >= 0 {
		writeIndex(b, r.i)
	}
}

func (w *walker) writeNode(b *strings.Builder, id int32) {
	nd := &w.nodes[id]
	if nd.parent != root {
		w.writeNode(b, nd.parent)
		b.WriteByte('.')
	}
	if nd.index < 0 {
		b.WriteString(nd.seg)
	} else {
		writeIndex(b, nd.index)
	}
}

func writeIndex(b *strings.Builder, i int32) {
	var num [10]byte
	b.Write(strconv.AppendInt(num[:0], int64(i), 10))
}

// digits is the length of i in decimal (i ≥ 0).
func digits(i int32) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}

// value parses one value at at. For an object it returns the object's
// "type" member (or "" for anything else) so the parent can tell content
// blocks apart.
func (w *walker) value(at ref, depth int) (string, error) {
	if w.pos >= len(w.s) {
		return "", w.fail("unexpected end")
	}
	switch w.s[w.pos] {
	case '{':
		return w.object(at, depth)
	case '[':
		return "", w.array(at, depth)
	case '"':
		s, e, text, err := w.str()
		if err != nil {
			return "", err
		}
		w.addLeaf(at, s, e, text, false)
		return "", nil
	case 't':
		return "", w.lit("true")
	case 'f':
		return "", w.lit("false")
	case 'n':
		return "", w.lit("null")
	default:
		return "", w.number()
	}
}

func (w *walker) addLeaf(at ref, s, e int, text string, key bool) {
	if !key && strings.HasPrefix(text, "data:") && strings.Contains(text[:min(len(text), 128)], ";base64,") {
		w.skipped = append(w.skipped, skipped{at: at, kind: "DATA_URL"})
		return
	}
	w.leaves = append(w.leaves, leaf{at: at, start: s, end: e, text: text, key: key})
}

// object parses the object at w.pos, inside depth containers.
func (w *walker) object(at ref, depth int) (string, error) {
	if depth >= MaxDepth {
		return "", w.tooDeep()
	}
	w.pos++ // '{'
	mark, skipMark := len(w.leaves), len(w.skipped)
	var typ, sourceType string
	w.ws()
	if w.pos < len(w.s) && w.s[w.pos] == '}' {
		w.pos++
		return "", nil
	}
	parent := w.node(&at)
	for {
		w.ws()
		if w.pos >= len(w.s) || w.s[w.pos] != '"' {
			return "", w.fail("expected object key")
		}
		ks, ke, key, err := w.str()
		if err != nil {
			return "", err
		}
		child := ref{w.addNode(parent, escapeKey(key), -1), -1}
		w.addLeaf(child, ks, ke, key, true)
		w.ws()
		if w.pos >= len(w.s) || w.s[w.pos] != ':' {
			return "", w.fail("expected ':'")
		}
		w.pos++
		w.ws()
		vs := w.pos
		vt, err := w.value(child, depth+1)
		if err != nil {
			return "", err
		}
		switch key {
		case "type":
			if w.s[vs] == '"' {
				typ = w.leaves[len(w.leaves)-1].text
			}
		case "source":
			sourceType = vt
		}
		w.ws()
		if w.pos >= len(w.s) {
			return "", w.fail("unterminated object")
		}
		if w.s[w.pos] == '}' {
			w.pos++
			break
		}
		if w.s[w.pos] != ',' {
			return "", w.fail("expected ',' or '}'")
		}
		w.pos++
	}
	if unscannable(typ) || typ == "document" && sourceType != "text" {
		// Drop what was collected inside the block: it is binary payload
		// (or a reference to one) that detectors cannot judge.
		w.leaves, w.skipped = w.leaves[:mark], w.skipped[:skipMark]
		w.skipped = append(w.skipped, skipped{at: at, kind: strings.ToUpper(typ)})
	}
	return typ, nil
}

// array parses the array at w.pos, inside depth containers.
func (w *walker) array(at ref, depth int) error {
	if depth >= MaxDepth {
		return w.tooDeep()
	}
	w.pos++ // '['
	w.ws()
	if w.pos < len(w.s) && w.s[w.pos] == ']' {
		w.pos++
		return nil
	}
	parent := noNode
	for i := int32(0); ; i++ {
		w.ws()
		// Only strings and containers need the element's place; a number
		// or literal has none, and an array of them makes no node.
		var elem ref
		if w.pos < len(w.s) {
			switch w.s[w.pos] {
			case '"', '{', '[':
				if parent == noNode {
					parent = w.node(&at)
				}
				elem = ref{parent, i}
			}
		}
		if _, err := w.value(elem, depth+1); err != nil {
			return err
		}
		w.ws()
		if w.pos >= len(w.s) {
			return w.fail("unterminated array")
		}
		if w.s[w.pos] == ']' {
			w.pos++
			return nil
		}
		if w.s[w.pos] != ',' {
			return w.fail("expected ',' or ']'")
		}
		w.pos++
	}
}

// str parses a string token and returns its raw bounds and decoded text:
// a slice of the body's copy when the token has no escapes. A token with
// no escape and no control character (nearly all) is found with IndexByte
// and checked eight bytes at a time; any other takes the byte loop, from
// its start, so errors and offsets are the loop's.
func (w *walker) str() (int, int, string, error) {
	s := w.pos
	rest := w.s[s+1:]
	if q := strings.IndexByte(rest, '"'); q >= 0 && strings.IndexByte(rest[:q], '\\') < 0 && !hasControl(rest[:q]) {
		w.pos = s + 1 + q + 1
		return s, w.pos, rest[:q], nil
	}
	w.pos++
	esc := false
	for w.pos < len(w.s) {
		c := w.s[w.pos]
		switch {
		case c == '\\':
			esc = true
			w.pos += 2
			continue
		case c == '"':
			w.pos++
			raw := w.s[s+1 : w.pos-1]
			if !esc {
				return s, w.pos, raw, nil
			}
			text, ok := unquote(raw)
			if !ok {
				return 0, 0, "", w.fail("bad string escape")
			}
			return s, w.pos, text, nil
		case c < 0x20:
			return 0, 0, "", w.fail("control character in string")
		}
		w.pos++
	}
	return 0, 0, "", w.fail("unterminated string")
}

func (w *walker) lit(word string) error {
	if !strings.HasPrefix(w.s[w.pos:], word) {
		return w.fail("bad literal")
	}
	w.pos += len(word)
	return nil
}

// hasControl reports a byte below 0x20 in s, testing eight bytes per step
// (a byte under 0x20 borrows through its own top bit; bytes with the top
// bit set are masked out by &^x, so no byte above 0x1f is ever reported).
func hasControl(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if (x-ones*0x20)&^x&highs != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'
}

func (w *walker) number() error {
	s := w.pos
	for w.pos < len(w.s) && numberByte(w.s[w.pos]) {
		w.pos++
	}
	if _, err := strconv.ParseFloat(w.s[s:w.pos], 64); err != nil || s == w.pos {
		return w.fail("bad number")
	}
	return nil
}

// escapeKey writes a key the way gjson paths expect: '.', '*', '?' and '\'
// escaped with a backslash.
func escapeKey(k string) string {
	if !needsEscape(k) {
		return k
	}
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(`.*?\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// needsEscape reports whether k holds a byte escapeKey escapes (a byte
// loop: keys are short, and strings.ContainsAny cost more than the walk's
// whole scan of them).
func needsEscape(k string) bool {
	for i := 0; i < len(k); i++ {
		switch k[i] {
		case '.', '*', '?', '\\':
			return true
		}
	}
	return false
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// encodes it without HTML escaping: '"', '\\' and control bytes escaped
// (\b \f \n \r \t short, others as \u00XX), invalid UTF-8 as \ufffd,
// U+2028 and U+2029 as \u2028 and \u2029. Runs of bytes that need none
// are appended whole; it replaced a json.Encoder per redacted string
// (FuzzAppendJSONString checks the two agree).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= utf8.RuneSelf {
			c, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case c == utf8.RuneError && size == 1:
				dst = append(append(dst, s[start:i]...), `\ufffd`...)
			case c == '\u2028' || c == '\u2029':
				dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[c&0xF])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		if b >= 0x20 && b != '"' && b != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '\\', '"':
			dst = append(dst, '\\', b)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
		}
		i++
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}
