package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// unscannableTypes are content-block types whose payload is not text.
var unscannableTypes = map[string]bool{
	"image_url": true, "image": true, "input_image": true, "input_audio": true,
	"audio": true, "file": true, "input_file": true,
}

// walker is a single-pass JSON scanner that records every string with its
// path and raw byte range. It does not build a tree: memory is proportional
// to the strings found, time to the body length.
type walker struct {
	data    []byte
	pos     int
	leaves  []leaf
	skipped []skipped
}

type objInfo struct {
	typ, sourceType string
}

func walkJSON(data []byte) (*walker, error) {
	w := &walker{data: data}
	w.ws()
	if _, err := w.value(nil, 0, ""); err != nil {
		return nil, err
	}
	w.ws()
	if w.pos != len(w.data) {
		return nil, fmt.Errorf("%w: trailing data at offset %d", ErrInvalidJSON, w.pos)
	}
	return w, nil
}

func (w *walker) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, w.pos)
}

func (w *walker) ws() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value parses one value at path. For an object it returns the object's
// "type" member (or "" for anything else) so the parent can tell content
// blocks apart.
func (w *walker) value(path []string, depth int, _ string) (string, error) {
	if depth > maxDepth {
		return "", w.fail("nesting too deep")
	}
	if w.pos >= len(w.data) {
		return "", w.fail("unexpected end")
	}
	switch w.data[w.pos] {
	case '{':
		return w.object(path, depth)
	case '[':
		return "", w.array(path, depth)
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

func (w *walker) addLeaf(path []string, s, e int, text string, key bool) {
	p := strings.Join(path, ".")
	if !key && strings.HasPrefix(text, "data:") && strings.Contains(text[:min(len(text), 128)], ";base64,") {
		w.skipped = append(w.skipped, skipped{path: p, kind: "DATA_URL"})
		return
	}
	w.leaves = append(w.leaves, leaf{path: p, start: s, end: e, text: text, key: key})
}

func (w *walker) object(path []string, depth int) (string, error) {
	w.pos++ // '{'
	mark, skipMark := len(w.leaves), len(w.skipped)
	var info objInfo
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		return "", nil
	}
	for {
		w.ws()
		if w.pos >= len(w.data) || w.data[w.pos] != '"' {
			return "", w.fail("expected object key")
		}
		ks, ke, key, err := w.str()
		if err != nil {
			return "", err
		}
		child := append(path[:len(path):len(path)], escapeKey(key))
		w.addLeaf(child, ks, ke, key, true)
		w.ws()
		if w.pos >= len(w.data) || w.data[w.pos] != ':' {
			return "", w.fail("expected ':'")
		}
		w.pos++
		w.ws()
		vs := w.pos
		typ, err := w.value(child, depth+1, key)
		if err != nil {
			return "", err
		}
		switch key {
		case "type":
			if w.data[vs] == '"' {
				info.typ = w.leaves[len(w.leaves)-1].text
			}
		case "source":
			info.sourceType = typ
		}
		w.ws()
		if w.pos >= len(w.data) {
			return "", w.fail("unterminated object")
		}
		if w.data[w.pos] == '}' {
			w.pos++
			break
		}
		if w.data[w.pos] != ',' {
			return "", w.fail("expected ',' or '}'")
		}
		w.pos++
	}
	if unscannableTypes[info.typ] || info.typ == "document" && info.sourceType != "text" {
		// Drop what was collected inside the block: it is binary payload
		// (or a reference to one) that detectors cannot judge.
		w.leaves, w.skipped = w.leaves[:mark], w.skipped[:skipMark]
		w.skipped = append(w.skipped, skipped{path: strings.Join(path, "."), kind: strings.ToUpper(info.typ)})
	}
	return info.typ, nil
}

func (w *walker) array(path []string, depth int) error {
	w.pos++ // '['
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; ; i++ {
		w.ws()
		if _, err := w.value(append(path[:len(path):len(path)], strconv.Itoa(i)), depth+1, ""); err != nil {
			return err
		}
		w.ws()
		if w.pos >= len(w.data) {
			return w.fail("unterminated array")
		}
		if w.data[w.pos] == ']' {
			w.pos++
			return nil
		}
		if w.data[w.pos] != ',' {
			return w.fail("expected ',' or ']'")
		}
		w.pos++
	}
}

// str parses a string token and returns its raw bounds and decoded text.
func (w *walker) str() (int, int, string, error) {
	s := w.pos
	w.pos++
	esc := false
	for w.pos < len(w.data) {
		c := w.data[w.pos]
		switch {
		case c == '\\':
			esc = true
			w.pos += 2
			continue
		case c == '"':
			w.pos++
			raw := w.data[s:w.pos]
			if !esc {
				return s, w.pos, string(raw[1 : len(raw)-1]), nil
			}
			text, ok := unquote(raw[1 : len(raw)-1])
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
	if !strings.HasPrefix(string(w.data[w.pos:min(len(w.data), w.pos+len(word))]), word) {
		return w.fail("bad literal")
	}
	w.pos += len(word)
	return nil
}

func (w *walker) number() error {
	s := w.pos
	for w.pos < len(w.data) && strings.IndexByte("+-0123456789.eE", w.data[w.pos]) >= 0 {
		w.pos++
	}
	if _, err := strconv.ParseFloat(string(w.data[s:w.pos]), 64); err != nil || s == w.pos {
		return w.fail("bad number")
	}
	return nil
}

// escapeKey writes a key the way gjson paths expect: '.', '*', '?' and '\'
// escaped with a backslash.
func escapeKey(k string) string {
	if !strings.ContainsAny(k, `.*?\`) {
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

// encodeString renders s as a JSON string without HTML escaping.
func encodeString(s string) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}
