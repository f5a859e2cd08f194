package guard

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidJSON is returned for a body that is not one well-formed JSON
// value. The engine never forwards what it could not scan.
var ErrInvalidJSON = errors.New("guard: request body is not valid JSON")

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 256

// leaf is one JSON string (value or key) found by the walk.
type leaf struct {
	path       string
	start, end int // raw token bounds in the body, quotes included
	text       string
	key        bool
}

// skipped records content the walk did not scan because it is an image,
// audio, file or binary document.
type skipped struct {
	path, kind string
}

// unscannable reports content-block types whose payload is not text.
func unscannable(typ string) bool {
	switch typ {
	case "image_url", "image", "input_image", "input_audio", "audio", "file", "input_file":
		return true
	}
	return false
}

// walker is a single-pass JSON scanner that records every string with its
// path and raw byte range. It does not build a tree: memory is proportional
// to the strings found, time to the body length.
//
// The walk costs a few allocations per body, not per string: it copies the
// body into one string once and slices every unescaped text and key out of
// it, and it writes every path into one arena (a strings.Builder whose
// earlier strings stay valid as it grows) instead of joining segments per
// leaf.
type walker struct {
	s       string // the body, copied once
	pos     int
	leaves  []leaf
	skipped []skipped
	paths   strings.Builder
}

func walkJSON(data []byte) (*walker, error) {
	// Every leaf is a quoted string: the quote count bounds the leaves (an
	// escaped quote only makes it an overestimate), so leaves never grow.
	w := &walker{s: string(data), leaves: make([]leaf, 0, bytes.Count(data, []byte{'"'})/2)}
	// Room for paths of about 32 bytes per leaf, never more than the body:
	// one allocation for a typical body, amortised doubling beyond.
	w.paths.Grow(min(len(data), 32*cap(w.leaves)+64))
	w.ws()
	if _, err := w.value("", true, 0); err != nil {
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

// child returns the path of member seg of the value at parent (top: the
// body itself, whose path is ""), written to the arena unless it is seg.
func (w *walker) child(parent string, top bool, seg string) string {
	if top {
		return seg
	}
	start := w.paths.Len()
	w.paths.WriteString(parent)
	w.paths.WriteByte('.')
	w.paths.WriteString(seg)
	return w.paths.String()[start:]
}

// index is child for array element i.
func (w *walker) index(parent string, top bool, i int) string {
	if top {
		return strconv.Itoa(i)
	}
	var num [20]byte
	start := w.paths.Len()
	w.paths.WriteString(parent)
	w.paths.WriteByte('.')
	w.paths.Write(strconv.AppendInt(num[:0], int64(i), 10))
	return w.paths.String()[start:]
}

// value parses one value at path. For an object it returns the object's
// "type" member (or "" for anything else) so the parent can tell content
// blocks apart.
func (w *walker) value(path string, top bool, depth int) (string, error) {
	if depth > maxDepth {
		return "", w.fail("nesting too deep")
	}
	if w.pos >= len(w.s) {
		return "", w.fail("unexpected end")
	}
	switch w.s[w.pos] {
	case '{':
		return w.object(path, top, depth)
	case '[':
		return "", w.array(path, top, depth)
	case '"':
		s, e, text, err := w.str()
		if err != nil {
			return "", err
		}
		w.addLeaf(path, s, e, text, false)
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

func (w *walker) addLeaf(path string, s, e int, text string, key bool) {
	if !key && strings.HasPrefix(text, "data:") && strings.Contains(text[:min(len(text), 128)], ";base64,") {
		w.skipped = append(w.skipped, skipped{path: path, kind: "DATA_URL"})
		return
	}
	w.leaves = append(w.leaves, leaf{path: path, start: s, end: e, text: text, key: key})
}

func (w *walker) object(path string, top bool, depth int) (string, error) {
	w.pos++ // '{'
	mark, skipMark := len(w.leaves), len(w.skipped)
	var typ, sourceType string
	w.ws()
	if w.pos < len(w.s) && w.s[w.pos] == '}' {
		w.pos++
		return "", nil
	}
	for {
		w.ws()
		if w.pos >= len(w.s) || w.s[w.pos] != '"' {
			return "", w.fail("expected object key")
		}
		ks, ke, key, err := w.str()
		if err != nil {
			return "", err
		}
		child := w.child(path, top, escapeKey(key))
		w.addLeaf(child, ks, ke, key, true)
		w.ws()
		if w.pos >= len(w.s) || w.s[w.pos] != ':' {
			return "", w.fail("expected ':'")
		}
		w.pos++
		w.ws()
		vs := w.pos
		vt, err := w.value(child, false, depth+1)
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
		w.skipped = append(w.skipped, skipped{path: path, kind: strings.ToUpper(typ)})
	}
	return typ, nil
}

func (w *walker) array(path string, top bool, depth int) error {
	w.pos++ // '['
	w.ws()
	if w.pos < len(w.s) && w.s[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; ; i++ {
		w.ws()
		if _, err := w.value(w.index(path, top, i), false, depth+1); err != nil {
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
