package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/provider/anthropic"
	"github.com/bulwarkhq/bulwark/internal/provider/gemini"
	"github.com/bulwarkhq/bulwark/internal/provider/openai"
)

// Call is one outgoing upstream call in the caller's wire family.
type Call struct {
	Family Family
	Method string
	// Path is the OpenAI path relative to /v1 (openai.PathChat) or the
	// Anthropic path from the root (anthropic.PathMessages).
	Path  string
	Query string // raw query to forward ("beta=true", Gemini's "alt=sse")
	// Model is the upstream model: the deployment of an Azure OpenAI
	// provider (see openai.AzureURL). Gemini callers put it in Path.
	Model string
	Body  []byte
	// In is the client's request header. Only the fields below are read
	// from it; nothing else, and no credential, is ever forwarded.
	In http.Header
	// Betas allowlists anthropic-beta flags.
	Betas map[string]bool
}

// mockBase is the base URL of mock providers; their transport never dials.
const mockBase = "http://mock.bulwark.invalid"

// NewRequest builds the upstream request for c. Headers are built from an
// allowlist rather than copied and scrubbed: the client's Authorization,
// x-api-key, cookies, X-Forwarded-* and hop-by-hop headers can never reach
// the upstream, which gets only its own credential.
func NewRequest(ctx context.Context, cfg Config, c Call) (*http.Request, error) {
	key, err := cfg.APIKey(ctx)
	if err != nil {
		return nil, err
	}
	base := cfg.BaseURL
	if cfg.Type == TypeMock {
		base = mockBase
	}
	azure := c.Family == FamilyOpenAI && cfg.Type == TypeOpenAI && openai.IsAzure(base)
	var u string
	switch {
	case c.Family == FamilyAnthropic:
		u = anthropic.URL(base, c.Path)
	case c.Family == FamilyGemini:
		u = gemini.URL(base, c.Path)
	case azure:
		if u, err = openai.AzureURL(base, c.Model, c.Path); err != nil {
			return nil, fmt.Errorf("provider %q: azure url: %w", cfg.Name, err)
		}
	default:
		if cfg.Type == TypeMock {
			base += "/v1"
		}
		u = openai.URL(base, c.Path)
	}
	if c.Query != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + c.Query
	}
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	req, err := newRequest(ctx, c.Method, u, body)
	if err != nil {
		return nil, fmt.Errorf("provider %q: build request: %w", cfg.Name, err)
	}
	h := req.Header
	if c.Body != nil {
		h["Content-Type"] = jsonType
	}
	if acceptFor(c.In) == eventStream {
		h["Accept"] = acceptStream
	} else {
		h["Accept"] = jsonType
	}
	h["User-Agent"] = userAgent
	switch {
	case c.Family == FamilyAnthropic:
		anthropic.SetAuth(h, key, c.In.Get("Anthropic-Version"))
		if b := anthropic.FilterBetas(c.In.Values("Anthropic-Beta"), c.Betas); b != "" {
			h.Set("Anthropic-Beta", b)
		}
	case c.Family == FamilyGemini:
		gemini.SetAuth(h, key)
	case azure:
		openai.SetAzureAuth(h, key)
	default:
		openai.SetAuth(h, key)
	}
	return req, nil
}

// Constant header values are shared by every upstream request, assigned
// under their canonical names: the transport only reads request headers,
// and Header.Set/Add replace or append (a full one-element slice is copied
// on append), so no request can change another's.
var (
	jsonType     = []string{"application/json"}
	acceptStream = []string{eventStream}
	userAgent    = []string{"bulwark"}
)

const eventStream = "text/event-stream"

// acceptFor forwards the client's Accept only when it is one of the two
// media types an LLM API serves.
func acceptFor(in http.Header) string {
	a := in.Get("Accept")
	if strings.Contains(a, eventStream) {
		return eventStream
	}
	return "application/json"
}

// CredentialIn returns the upstream credential NewRequest put in h (a
// bearer token, x-api-key, api-key or x-goog-api-key), so that an
// upstream's echo of it can be cut from what reaches clients and logs.
func CredentialIn(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		return strings.TrimPrefix(v, "Bearer ")
	}
	for _, k := range [...]string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}
