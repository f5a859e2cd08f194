package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

// CollectExtensions returns the top-level fields of the JSON object body
// whose keys known does not report, tagged with dialect, in body order.
// Codecs use it so unmodelled fields survive a same-dialect round trip and
// are reported as dropped elsewhere.
func CollectExtensions(body []byte, dialect string, known func(key string) bool) []Extension {
	var out []Extension
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		if !known(k.Str) {
			out = append(out, Extension{Dialect: dialect, Key: k.Str, Value: json.RawMessage(v.Raw)})
		}
		return true
	})
	return out
}

// AppendExtensions adds the extensions of dialect to the encoded JSON object
// obj (which must end with '}') and records the others in d. Keys the object
// already has are not duplicated.
func AppendExtensions(obj []byte, exts []Extension, dialect string, d *Dropped) []byte {
	for _, e := range exts {
		if e.Dialect != dialect {
			d.Add(e.Key)
			continue
		}
		if gjson.GetBytes(obj, gjson.Escape(e.Key)).Exists() {
			continue
		}
		key, _ := json.Marshal(e.Key)
		obj = bytes.TrimRight(obj, " \n")
		obj = obj[:len(obj)-1]
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		obj = append(obj, key...)
		obj = append(obj, ':')
		obj = append(obj, e.Value...)
		obj = append(obj, '}')
	}
	return obj
}

// Malformed wraps a decoding failure so that errors.Is(err, ErrMalformed)
// holds. The message names the place (byte offset, field path, expected
// type), never the offending content, so it is safe to show to clients and
// cannot carry a secret from the body into logs.
func Malformed(what string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return fmt.Errorf("%s: %w", what, ErrMalformed)
	case errors.As(err, &syn):
		return fmt.Errorf("%s: %w: invalid JSON at byte %d", what, ErrMalformed, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%s: %w: field %q must be %s", what, ErrMalformed, typ.Field, typ.Type)
	}
	return fmt.Errorf("%s: %w: invalid JSON", what, ErrMalformed)
}

// AppendSSE appends one SSE event (optional event name, one data line) and
// the blank line that terminates it. data must not contain newlines, which
// holds for compact JSON.
func AppendSSE(dst []byte, event string, data []byte) []byte {
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

// AddToolResult appends a tool_result block to msgs, merging it into a
// trailing RoleTool message so consecutive results share one message, the
// canonical form.
func AddToolResult(msgs []Message, b Block) []Message {
	if n := len(msgs); n > 0 && msgs[n-1].Role == RoleTool {
		msgs[n-1].Content = append(msgs[n-1].Content, b)
		return msgs
	}
	return append(msgs, Message{Role: RoleTool, Content: []Block{b}})
}

// CompactObject validates that raw is a JSON object and returns it
// compacted, the form tool arguments take in canonical blocks.
func CompactObject(raw []byte) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if json.Compact(&buf, raw) != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// ValidJSONObject reports whether raw is a JSON object, the only shape tool
// arguments may take in every dialect.
func ValidJSONObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}
