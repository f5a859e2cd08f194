package gemini

import (
	"errors"
	"net/url"
	"strings"
)

// Methods of the Gemini models resource the gateway serves.
const (
	MethodGenerate       = "generateContent"
	MethodStreamGenerate = "streamGenerateContent"
	MethodCountTokens    = "countTokens"
)

// ErrBadPath is returned by ParsePath for a path that is not
// /v1beta/models/{model}:{method} with a known method and a safe model name.
var ErrBadPath = errors.New("not a gemini model method path")

const pathPrefix = "/v1beta/models/"

// ParsePath splits an inbound request path such as
// /v1beta/models/gemini-2.5-flash:streamGenerateContent into the model and
// the method. Go's ServeMux cannot match "{model}:verb" within one segment,
// so the gateway routes the /v1beta/models/ prefix here. Model names may
// hold letters, digits, '.', '_', '-' and '/' (for Bulwark's
// provider/model addressing) but no empty or dot-only segments.
func ParsePath(path string) (model, method string, err error) {
	rest, ok := strings.CutPrefix(path, pathPrefix)
	if !ok {
		return "", "", ErrBadPath
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", ErrBadPath
	}
	model, method = rest[:i], rest[i+1:]
	switch method {
	case MethodGenerate, MethodStreamGenerate, MethodCountTokens:
	default:
		return "", "", ErrBadPath
	}
	if !validModel(model) {
		return "", "", ErrBadPath
	}
	return model, method, nil
}

func validModel(m string) bool {
	if len(m) > 256 {
		return false
	}
	for seg := range strings.SplitSeq(m, "/") {
		if seg == "" || strings.Trim(seg, ".") == "" {
			return false
		}
		for _, r := range seg {
			if !modelRune(r) {
				return false
			}
		}
	}
	return true
}

// UpstreamPath is the path (and query) for calling an upstream Gemini
// model; streams ask for SSE framing with alt=sse. A model that could not
// come from ParsePath (an empty or dot-only segment, a rune outside
// [A-Za-z0-9._-]) is refused with ErrBadPath: escaping keeps "/", "?" and
// "#" in place but not "..", which would walk the path out of models/.
func UpstreamPath(model string, stream bool) (string, error) {
	p, err := modelPath(model)
	if err != nil {
		return "", err
	}
	if stream {
		return p + ":" + MethodStreamGenerate + "?alt=sse", nil
	}
	return p + ":" + MethodGenerate, nil
}

// CountTokensPath is the path for counting a prompt's tokens with an
// upstream Gemini model (refused as UpstreamPath refuses).
func CountTokensPath(model string) (string, error) {
	p, err := modelPath(model)
	if err != nil {
		return "", err
	}
	return p + ":" + MethodCountTokens, nil
}

// ValidModel reports whether model is a name Gemini paths can carry.
func ValidModel(model string) bool { return validModel(model) }

// modelPath is the escaped resource path of model.
func modelPath(model string) (string, error) {
	if !validModel(model) {
		return "", ErrBadPath
	}
	segs := strings.Split(model, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return pathPrefix + strings.Join(segs, "/"), nil
}

// modelRune reports whether r may appear in a model path segment: ASCII
// letters, digits, '.', '_' and '-'.
func modelRune(r rune) bool {
	return r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
