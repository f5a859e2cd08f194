package guard

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// walkerRef is the walk as it was before paths were built in one arena
// and texts sliced from one copy of the body; FuzzWalkMatchesReference
// holds the two to the same leaves. It is a single-pass JSON scanner that records every string with its
// path and raw byte range. It does not build a tree: memory is proportional
// to the strings found, time to the body length.
type walkerRef struct {
	data    []byte
	pos     int
	leaves  []refLeaf
	skipped []refSkipped
}

// refLeaf and refSkipped are leaf and skipped with the path written out,
// as the reference records them.
type refLeaf struct {
	path       string
	start, end int
	text       string
	key        bool
}

type refSkipped struct {
	path, kind string
}

func walkJSONRef(data []byte) (*walkerRef, error) {
	w := &walkerRef{data: data}
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

func (w *walkerRef) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, w.pos)
}

func (w *walkerRef) ws() {
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
func (w *walkerRef) value(path []string, depth int, _ string) (string, error) {
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

func (w *walkerRef) addLeaf(path []string, s, e int, text string, key bool) {
	p := strings.Join(path, ".")
	if !key && strings.HasPrefix(text, "data:") && strings.Contains(text[:min(len(text), 128)], ";base64,") {
		w.skipped = append(w.skipped, refSkipped{path: p, kind: "DATA_URL"})
		return
	}
	w.leaves = append(w.leaves, refLeaf{path: p, start: s, end: e, text: text, key: key})
}

func (w *walkerRef) object(path []string, depth int) (string, error) {
	if depth >= MaxDepth {
		return "", fmt.Errorf("%w at offset %d", ErrTooDeep, w.pos)
	}
	w.pos++ // '{'
	mark, skipMark := len(w.leaves), len(w.skipped)
	var info struct{ typ, sourceType string }
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
	if unscannableTypesRef[info.typ] || info.typ == "document" && info.sourceType != "text" {
		// Drop what was collected inside the block: it is binary payload
		// (or a reference to one) that detectors cannot judge.
		w.leaves, w.skipped = w.leaves[:mark], w.skipped[:skipMark]
		w.skipped = append(w.skipped, refSkipped{path: strings.Join(path, "."), kind: strings.ToUpper(info.typ)})
	}
	return info.typ, nil
}

func (w *walkerRef) array(path []string, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%w at offset %d", ErrTooDeep, w.pos)
	}
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
func (w *walkerRef) str() (int, int, string, error) {
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
			text, ok := unquote(string(raw[1 : len(raw)-1]))
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

func (w *walkerRef) lit(word string) error {
	if !strings.HasPrefix(string(w.data[w.pos:min(len(w.data), w.pos+len(word))]), word) {
		return w.fail("bad literal")
	}
	w.pos += len(word)
	return nil
}

func (w *walkerRef) number() error {
	s := w.pos
	for w.pos < len(w.data) && strings.IndexByte("+-0123456789.eE", w.data[w.pos]) >= 0 {
		w.pos++
	}
	if _, err := strconv.ParseFloat(string(w.data[s:w.pos]), 64); err != nil || s == w.pos {
		return w.fail("bad number")
	}
	return nil
}

// unscannableTypesRef is the content-block type set the reference walk
// reads (the walk itself uses the unscannable switch).
var unscannableTypesRef = map[string]bool{
	"image_url": true, "image": true, "input_image": true, "input_audio": true,
	"audio": true, "file": true, "input_file": true,
}

// walkBodies are bodies with every shape the walk distinguishes: nesting,
// escapes in keys and texts, content blocks to skip, data URLs, keys with
// gjson's special characters, empty keys, top-level arrays and scalars,
// and malformed input.
var walkBodies = []string{
	`{"a":"mail jane.doe@example.org","b":[1,{"c":"4111 1111 1111 1111"}]}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"hi"}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","data":"QUJD"}}]}]}`,
	`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"plain"}}]}]}`,
	`["\u00e9\"x", "data:image/png;base64,AAAA", {"a.b*c?d\\e": "v"}]`,
	`{"": {"": ["", {"k": "v"}]}, "n": -1.5e3, "t": true, "f": false, "z": null}`,
	`{"a\u0000b": "\ud83d\ude00 \ud800 x", "é": "\/"}`,
	`"top level string"`, `12`, `[[[["deep"]]]]`, `{"type":"image","data":"x"}`,
	`{"messages":[{"role":"system","content":[{"type":"text","text":"s"}]},"u",{"role":"user","content":"x"}],"messages\\.1":"k","contents":[{"parts":[{"text":"t"}]}],"contents.0":"c"}`,
	`{"messages":{"3":{"x":"y"},"3.x":["z"]},"k":[[["a"],{"b":"c"}],[0,{"d":["e"]}]]}`,
	`{"a":}`, `{"a":"b"`, `{"a":"b"} x`, `{"a":"\q"}`, "{\"a\":\"\x01\"}", `[1,]`, `{"a" "b"}`, `tru`, ``,
	// At the depth limit: as deep as allowed, one level more, and cut off.
	strings.Repeat("[", MaxDepth) + `"x"` + strings.Repeat("]", MaxDepth),
	strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat("}", MaxDepth),
	strings.Repeat("[", MaxDepth-1) + `{"a":"x"`,
}

func TestWalkMatchesReference(t *testing.T) {
	for _, body := range walkBodies {
		t.Run(body, func(t *testing.T) { assertWalkMatches(t, []byte(body)) })
	}
}

func FuzzWalkMatchesReference(f *testing.F) {
	for _, body := range walkBodies {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) { assertWalkMatches(t, []byte(body)) })
}

func assertWalkMatches(t *testing.T, body []byte) {
	t.Helper()
	w, err := walkJSON(body)
	ref, refErr := walkJSONRef(body)
	if fmt.Sprint(err) != fmt.Sprint(refErr) {
		t.Fatalf("walk(%q) error %v, reference %v", body, err, refErr)
	}
	if err != nil {
		return
	}
	// The walk writes no paths: write each out as a finding would, with
	// an unbounded budget, and check the trust anchor is the path's first
	// two segments, about which the trust functions answer as about the
	// whole path.
	a := w.arena()
	a.left = math.MaxInt
	trusts := []func(string) Trust{OpenAIChatTrust(body), AnthropicMessagesTrust(body), func(p string) Trust {
		if strings.HasPrefix(p, "contents.") { // gatewayhook's Gemini trust
			return Untrusted
		}
		return Trusted
	}}
	var leaves []refLeaf
	var skips []refSkipped
	for _, l := range w.leaves {
		p, _ := a.path(l.at, "")
		leaves = append(leaves, refLeaf{path: p, start: l.start, end: l.end, text: l.text, key: l.key})
		anchor, _ := a.path(w.anchor(l.at), "")
		if want := firstSegments(p, 2); anchor != want {
			t.Fatalf("walk(%q): anchor of %q is %q, want %q", body, p, anchor, want)
		}
		for i, trust := range trusts {
			if trust(anchor) != trust(p) {
				t.Fatalf("walk(%q): trust function %d says %v of %q, %v of its anchor %q", body, i, trust(p), p, trust(anchor), anchor)
			}
		}
		if got := w.pathLen(l.at); got != len(p) {
			t.Fatalf("walk(%q): pathLen of %q = %d", body, p, got)
		}
	}
	for _, s := range w.skipped {
		p, _ := a.path(s.at, "")
		skips = append(skips, refSkipped{path: p, kind: s.kind})
	}
	if !slices.Equal(leaves, ref.leaves) || !slices.Equal(skips, ref.skipped) {
		t.Fatalf("walk(%q):\n%+v %+v\nreference:\n%+v %+v", body, leaves, skips, ref.leaves, ref.skipped)
	}
}

// firstSegments cuts a gjson path after its nth unescaped dot.
func firstSegments(p string, n int) string {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '.':
			if n--; n == 0 {
				return p[:i]
			}
		}
	}
	return p
}

// BenchmarkWalk compares the walk with the reference on an answer of the
// gateway benchmark's shape.
func BenchmarkWalk(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("The gateway forwards requests to the upstream provider and accounts for usage. ", 7) +
		`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := walkJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := walkJSONRef(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestHasControl holds the eight-bytes-at-a-time test to a byte loop for
// every byte value at every position of a word and in the tail, next to
// bytes with the top bit set (which must not borrow into a report).
func TestHasControl(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 16, 17} {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("\xff", n))
				b[pos] = byte(c)
				want := c < 0x20
				if got := hasControl(string(b)); got != want {
					t.Fatalf("len %d, byte %#x at %d: hasControl = %v, want %v", n, c, pos, got, want)
				}
				for i := range b {
					if i != pos {
						b[i] = ' '
					}
				}
				if got := hasControl(string(b)); got != want {
					t.Fatalf("len %d, byte %#x at %d among spaces: hasControl = %v, want %v", n, c, pos, got, want)
				}
			}
		}
	}
}

// encodeStringRef is how redacted strings were encoded before
// appendJSONString: a json.Encoder without HTML escaping.
func encodeStringRef(s string) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

var encodeCases = []string{
	"", "plain", `quote " and \ backslash`, "\b\f\n\r\t\x00\x01\x1f\x7f", "<html> & 'x'",
	"é ü 中文 🙂", "bad \xff utf8 \xc3", "\u2028 line \u2029 para", "\xef\xbf\xbd is U+FFFD", "[EMAIL_1]",
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range encodeCases {
		t.Run(s, func(t *testing.T) {
			if got, want := string(appendJSONString(nil, s)), string(encodeStringRef(s)); got != want {
				t.Fatalf("appendJSONString(%q) = %s, json = %s", s, got, want)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range encodeCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendJSONString([]byte("x"), s)), "x"+string(encodeStringRef(s)); got != want {
			t.Fatalf("appendJSONString(%q) = %s, json = %s", s, got, want)
		}
	})
}
