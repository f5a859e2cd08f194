package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/bulwarkhq/bulwark/internal/jsonscan"
)

// Errors of fast-path field extraction; the handler maps them to 400s.
var (
	ErrMalformedJSON  = errors.New("request body is not valid JSON")
	ErrNotObject      = errors.New("request body must be a JSON object")
	ErrDuplicateField = errors.New("request body repeats a top-level field")
	ErrFieldCase      = errors.New("request body spells a field the gateway reads in other letter case")
	ErrStreamOptions  = errors.New("stream_options must be an object")
	ErrMissingModel   = errors.New("request body has no model")
	ErrInvalidModel   = errors.New("model must be a non-empty string of at most 256 printable characters")
	ErrTooDeep        = fmt.Errorf("request body is nested more than %d levels deep", jsonscan.MaxDepth)
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

// tracked are the top-level fields the gateway reads.
//
// No top-level member may appear twice, and none may differ from another,
// or from a tracked field, only in letter case: a JSON parser that keeps
// the last duplicate (most upstreams) would otherwise see a different
// model than the one authorised here, and one that matches names without
// regard to case (Go's encoding/json: Ollama, other Go servers) would take
// "Model" for the model. Names are compared folded as encoding/json folds
// them (Unicode simple folding: "ſtream" and "stream" are one name).
var tracked = [...]string{"model", "stream", "max_tokens", "max_completion_tokens", "stream_options"}

// Extract validates body and reads its Fields in the same single pass,
// allocating only the model string. Nesting deeper than jsonscan.MaxDepth
// is refused (ErrTooDeep) before anything recurses over it.
func Extract(body []byte) (Fields, error) {
	var (
		f        Fields
		seen     [len(tracked)]bool
		nameBuf  [512]byte
		nameEnds [16]int
		ferr     error // the first member error, reported once the body is known valid
	)
	names := foldSet{buf: nameBuf[:0], ends: nameEnds[:0]}
	object, err := jsonscan.Scan(body, func(name []byte, escaped bool, start, end int) {
		if ferr != nil {
			return
		}
		n := memberName(name, escaped)
		var key []byte
		var dup bool
		names, key, dup = names.add(n)
		if dup {
			ferr = ErrDuplicateField
			return
		}
		i := trackedIndex(key)
		if i < 0 {
			return
		}
		if n != tracked[i] {
			ferr = caseError(n, tracked[i])
			return
		}
		seen[i] = true
		ferr = f.set(i, body, start, end)
	})
	switch {
	case errors.Is(err, jsonscan.ErrTooDeep):
		return Fields{}, ErrTooDeep
	case err != nil:
		return Fields{}, ErrMalformedJSON
	case !object:
		return Fields{}, ErrNotObject
	case ferr != nil:
		return Fields{}, ferr
	case !seen[0]:
		return Fields{}, ErrMissingModel
	case !validModel(f.Model):
		return Fields{}, ErrInvalidModel
	}
	return f, nil
}

// checkDepth refuses a body nested deeper than jsonscan.MaxDepth with
// ErrTooDeep, the error Extract gives it, and nothing else: any other
// fault is the dialect decoder's to name. The Gemini API, whose bodies
// are not Extracted, checks it first, so that a deep body is refused as
// too deep in every dialect, before the guardrail or a decoder walks it.
func checkDepth(body []byte) error {
	if _, err := jsonscan.Scan(body, nil); errors.Is(err, jsonscan.ErrTooDeep) {
		return ErrTooDeep
	}
	return nil
}

// memberName is a top-level member's name as a string to compare, viewed
// in place when it has no escapes (the common case: no allocation).
func memberName(name []byte, escaped bool) string {
	if !escaped {
		return unsafe.String(unsafe.SliceData(name), len(name)) //nolint:gosec // G103: compared, never kept
	}
	return gjson.Parse(`"` + string(name) + `"`).Str
}

// set reads tracked field i from its raw value body[start:end]. Values are
// read as gjson reads them, so numbers in strings and the like keep their
// meaning; only the raw bytes of one value are parsed. The forms nearly
// every body uses — a model string without escapes, a boolean, a count of
// plain digits — are read in place (FuzzExtractAgrees holds them to gjson):
// the parser's code is then not run on a request's path at all.
func (f *Fields) set(i int, body []byte, start, end int) error {
	raw := body[start:end]
	switch {
	case i == 0 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0:
		// Scan validated the string: no escape, so its text is its bytes.
		f.Model, f.modelAt, f.modelLen = string(raw[1:len(raw)-1]), start, len(raw)
		return nil
	case i == 1:
		f.Stream = string(raw) == "true" // Scan gave the value exactly, no space around it
		return nil
	case i == 2 || i == 3:
		if n, ok := plainCount(raw); ok {
			f.MaxTokens = max(f.MaxTokens, n)
			return nil
		}
	}
	v := gjson.Parse(unsafe.String(&raw[0], len(raw))) //nolint:gosec // G103: read-only view; the model string kept is cloned
	switch i {
	case 0:
		if v.Type != gjson.String {
			return ErrInvalidModel
		}
		f.Model, f.modelAt, f.modelLen = strings.Clone(v.Str), start, len(raw)
	case 1:
		f.Stream = v.Type == gjson.True
	case 2, 3:
		f.MaxTokens = max(f.MaxTokens, v.Int())
	case 4:
		return f.setStreamOptions(v)
	}
	return nil
}

// plainCount reads a JSON number of 1 to 18 plain digits (no sign,
// fraction or exponent; a leading zero only alone), which gjson's Int
// reads as the same integer; ok is false for any other value.
func plainCount(raw []byte) (n int64, ok bool) {
	if len(raw) == 0 || len(raw) > 18 || (raw[0] == '0' && len(raw) > 1) {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// setStreamOptions reads stream_options.include_usage under the same
// rules as the top level: a repeated include_usage would let the client
// ask for usage here while the upstream, keeping the last, reads false —
// and the stream would be billed on local estimates of the client's
// choosing.
func (f *Fields) setStreamOptions(v gjson.Result) error {
	f.HasStreamOptions = true // null too: Rewrite replaces it, never adds a second member
	switch {
	case v.Type == gjson.Null:
		return nil
	case !v.IsObject():
		return ErrStreamOptions
	}
	var (
		nameBuf  [256]byte
		nameEnds [8]int
		err      error
	)
	names := foldSet{buf: nameBuf[:0], ends: nameEnds[:0]}
	v.ForEach(func(k, val gjson.Result) bool {
		var key []byte
		var dup bool
		names, key, dup = names.add(k.Str)
		switch {
		case dup:
			err = ErrDuplicateField
		case string(key) != foldedIncludeUsage:
		case k.Str != "include_usage":
			err = caseError(k.Str, "include_usage")
		default:
			f.IncludeUsage = val.Type == gjson.True
		}
		return err == nil
	})
	return err
}

// caseError names the member spelt like a tracked field in other case.
func caseError(got, want string) error {
	if len(got) > 64 {
		got = got[:64]
	}
	return fmt.Errorf("%w: %q is not %q", ErrFieldCase, got, want)
}

// trackedIndex returns the index of the tracked field whose folded name is
// key, or -1.
func trackedIndex(key []byte) int {
	for i, t := range foldedTracked {
		if string(key) == t {
			return i
		}
	}
	return -1
}

var (
	foldedTracked      = foldAll(tracked[:])
	foldedIncludeUsage = string(appendFold(nil, "include_usage"))
)

func foldAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(appendFold(nil, n))
	}
	return out
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
