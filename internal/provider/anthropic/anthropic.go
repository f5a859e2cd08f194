// Package anthropic holds the Anthropic Messages API wire details Bulwark
// needs to forward a request unchanged: endpoint paths, the x-api-key
// credential, API versions, the beta-flag allowlist and error bodies.
package anthropic

import (
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// Endpoint paths relative to the host root.
const (
	PathMessages    = "/v1/messages"
	PathCountTokens = "/v1/messages/count_tokens" //nolint:gosec // G101: an API path, not a credential
	PathModels      = "/v1/models"
)

// DefaultVersion is sent when the client names no anthropic-version.
const DefaultVersion = "2023-06-01"

// Versions are the anthropic-version values forwarded as sent; any other
// value is replaced by DefaultVersion so a client cannot smuggle arbitrary
// text into an upstream header.
var Versions = []string{"2023-06-01", "2026-10-21"}

// DefaultBetas are the anthropic-beta flags forwarded by default: the ones
// Claude Code sends with API-key authentication (the oauth-* beta is left
// out because the upstream is always called with the provider's API key).
var DefaultBetas = []string{
	"claude-code-20250219",
	"interleaved-thinking-2025-05-14",
	"fine-grained-tool-streaming-2025-05-14",
	"context-management-2025-06-27",
	"context-1m-2025-08-07",
	"prompt-caching-2024-07-31",
	"token-efficient-tools-2025-02-19",
	"output-128k-2025-02-19",
	"effort-2025-11-24",
	"structured-outputs-2025-11-13",
	"advanced-tool-use-2025-11-20",
	"tool-examples-2025-10-29",
	"web-fetch-2025-09-10",
	"mcp-client-2025-04-04",
}

// URL joins base and path, accepting a base with or without a trailing /v1.
func URL(base, path string) string {
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/v1")
	return base + path
}

// SetAuth sets the upstream's own credential and API version.
func SetAuth(h http.Header, apiKey, version string) {
	if apiKey != "" {
		h.Set("X-Api-Key", apiKey)
	}
	h.Set("Anthropic-Version", Version(version))
}

// Version returns v when it is a known API version, else DefaultVersion.
func Version(v string) string {
	for _, ok := range Versions {
		if v == ok {
			return v
		}
	}
	return DefaultVersion
}

// FilterBetas returns the comma-separated flags of the anthropic-beta header
// values that are in allow, deduplicated and in order; "" when none is.
func FilterBetas(values []string, allow map[string]bool) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if !allow[f] || seen[f] {
				continue
			}
			seen[f] = true
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}

// ErrorMessage extracts error.message from an Anthropic error body, or "".
func ErrorMessage(body []byte) string {
	return gjson.GetBytes(body, "error.message").String()
}
