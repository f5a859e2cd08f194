package gateway

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Errors of fast-path field extraction; the handler maps them to 400s.
var (
	ErrMalformedJSON  = errors.New("request body is not valid JSON")
	ErrNotObject      = errors.New("request body must be a JSON object")
	ErrDuplicateField = errors.New("request body repeats a top-level field")
	ErrMissingModel   = errors.New("request body has no model")
	ErrInvalidModel   = errors.New("model must be a non-empty string of at most 256 printable characters")
)

// Fields are what routing, limits and guardrails read from a request body
// without decoding it: the rest of the body is forwarded byte for byte.
type Fields struct {
	Model string
	// modelAt and modelLen locate the raw model value (with quotes) so it
	// can be replaced without re-encoding the body.
	modelAt, modelLen int
	Stream            bool
	MaxTokens         int64 // max_tokens or max_completion_tokens; 0 when absent
	// IncludeUsage reports stream_options.include_usage; HasStreamOptions
	// whether stream_options was sent at all.
	IncludeUsage     bool
	HasStreamOptions bool
}

// tracked are the top-level fields the gateway reads. Each may appear only
// once: a JSON parser that keeps the last duplicate (most upstreams) would
// otherwise see a different model than the one authorised here.
var tracked = [...]string{"model", "stream", "max_tokens", "max_completion_tokens", "stream_options"}

// Extract validates body and reads its Fields in one pass over the top
// level, allocating only the model string.
func Extract(body []byte) (Fields, error) {
	var f Fields
	if !gjson.ValidBytes(body) {
		return f, ErrMalformedJSON
	}
	if len(body) == 0 {
		return f, ErrMalformedJSON
	}
	// The body is not modified while root is in use, so view it as a string
	// without copying.
	root := gjson.Parse(unsafe.String(&body[0], len(body))) //nolint:gosec // G103: read-only view for this call; the one string kept (Model) is cloned
	if !root.IsObject() {
		return f, ErrNotObject
	}
	var seen [len(tracked)]bool
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		i := trackedIndex(k.Str)
		if i < 0 {
			return true
		}
		if seen[i] {
			err = ErrDuplicateField
			return false
		}
		seen[i] = true
		switch i {
		case 0:
			if v.Type != gjson.String {
				err = ErrInvalidModel
				return false
			}
			f.Model, f.modelAt, f.modelLen = strings.Clone(v.Str), v.Index, len(v.Raw)
		case 1:
			f.Stream = v.Type == gjson.True
		case 2, 3:
			f.MaxTokens = max(f.MaxTokens, v.Int())
		case 4:
			iu := v.Get("include_usage")
			f.HasStreamOptions, f.IncludeUsage = true, iu.Type == gjson.True
		}
		return true
	})
	if err != nil {
		return Fields{}, err
	}
	if !seen[0] {
		return Fields{}, ErrMissingModel
	}
	if !validModel(f.Model) {
		return Fields{}, ErrInvalidModel
	}
	return f, nil
}

func trackedIndex(k string) int {
	for i, t := range tracked {
		if k == t {
			return i
		}
	}
	return -1
}

// validModel keeps model names to what a log line, a metric label and an
// upstream URL can carry safely.
func validModel(m string) bool {
	if m == "" || len(m) > 256 || !utf8.ValidString(m) {
		return false
	}
	for _, r := range m {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '"' {
			return false
		}
	}
	return true
}

// Rewrite returns body with the model replaced by upstream (when it
// differs) and, for an OpenAI stream without stream_options.include_usage,
// that option set so the upstream reports usage. The original body is not
// modified.
func Rewrite(body []byte, f Fields, upstream string, addIncludeUsage bool) ([]byte, error) {
	addUsage := addIncludeUsage && f.Stream && !f.IncludeUsage
	if upstream == f.Model && !addUsage {
		return body, nil
	}
	out := make([]byte, 0, len(body)+len(upstream)+len(includeUsage)+2)
	out = append(out, body[:f.modelAt]...)
	out = append(out, '"')
	out = append(out, upstream...) // validModel excluded quotes, backslashes and control characters
	out = append(out, '"')
	rest := body[f.modelAt+f.modelLen:]
	switch {
	case !addUsage:
		return append(out, rest...), nil
	case f.HasStreamOptions: // edit the existing object
		return sjson.SetBytes(append(out, rest...), "stream_options.include_usage", true)
	}
	// Append the option as the object's last member: Extract validated the
	// body as one object, so its last non-space byte is the closing brace
	// (and "model" precedes it, so a comma is right).
	end := len(bytes.TrimRight(rest, " \t\r\n")) - 1
	out = append(out, rest[:end]...)
	out = append(out, includeUsage...)
	return append(out, rest[end:]...), nil
}

// includeUsage asks an OpenAI upstream to report a stream's usage.
const includeUsage = `,"stream_options":{"include_usage":true}`
