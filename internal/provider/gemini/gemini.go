// Package gemini holds the Google Gemini API wire details Bulwark needs to
// call a Gemini upstream: the generateContent paths, the x-goog-api-key
// credential and the shape of an error body. Request and response bodies
// are translated by internal/llm/gemini; this package only addresses and
// authenticates the call.
package gemini

import (
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
)

// DefaultBaseURL is Google's public endpoint; a configured base_url may
// replace it (a regional endpoint, a test server).
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// PathModels lists models (relative to the host root).
const PathModels = "/v1beta/models"

// URL joins base and a root-relative path, accepting a base with or without
// a trailing /v1beta (the form Google's SDKs print).
func URL(base, path string) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1beta")
	return base + path
}

// Path returns the root-relative path and the raw query that call model
// with generateContent, or streamGenerateContent with SSE framing.
func Path(model string, stream bool) (path, query string, err error) {
	p, err := gemini.UpstreamPath(model, stream)
	path, query, _ = strings.Cut(p, "?")
	return path, query, err
}

// ValidModel reports whether model can go in an upstream Gemini path.
func ValidModel(model string) bool { return gemini.ValidModel(model) }

// CountTokensPath returns the root-relative path of model's countTokens
// method (no query: the credential goes in a header, see SetAuth).
func CountTokensPath(model string) (string, error) { return gemini.CountTokensPath(model) }

// SetAuth sets the upstream's own credential. Google also accepts ?key=,
// which is never used: a key in a URL ends up in access logs.
func SetAuth(h http.Header, apiKey string) {
	if apiKey != "" {
		h.Set("X-Goog-Api-Key", apiKey)
	}
}

// ErrorMessage extracts error.message from a Gemini error body, or "".
// Gemini streams may also send the error as a one-element array.
func ErrorMessage(body []byte) string {
	if m := gjson.GetBytes(body, "error.message"); m.Exists() {
		return m.String()
	}
	return gjson.GetBytes(body, "0.error.message").String()
}
