// Package provider describes the upstreams Bulwark forwards LLM calls to and
// owns what every adapter shares: the provider configuration, the HTTP
// client tuned for proxying, and the header hygiene that makes sure an
// upstream receives only its own credential. The per-vendor details live in
// the openai, anthropic and mock subpackages.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/bulwarkhq/bulwark/internal/provider/gemini"
	"github.com/bulwarkhq/bulwark/internal/provider/openai"
)

// Type names a provider adapter.
type Type string

// Provider types.
const (
	TypeOpenAI    Type = "openai"    // OpenAI and any OpenAI-compatible server (Ollama, vLLM, Groq, ...)
	TypeAnthropic Type = "anthropic" // Anthropic Messages API
	TypeGemini    Type = "gemini"    // Google Gemini generateContent API (x-goog-api-key)
	TypeMock      Type = "mock"      // deterministic in-process upstream for tests and demos
)

// Family is the wire format (API dialect) a provider speaks.
type Family int

// Wire families.
const (
	FamilyOpenAI Family = iota
	FamilyAnthropic
	FamilyGemini
)

// Config is one configured upstream. The lead's store and config layer
// build it; Credential is resolved per call (decrypted from the barrier or
// read from the environment) so a secret is held only as long as needed.
type Config struct {
	Name    string
	Type    Type
	BaseURL string   // e.g. https://api.openai.com/v1 or https://api.anthropic.com (a trailing /v1 is accepted)
	Models  []string // upstream model names served; empty means any
	// Credential returns the upstream API key. It may be nil for providers
	// that need none (mock, a local Ollama).
	Credential func(ctx context.Context) (string, error)
}

// Errors callers branch on.
var (
	ErrInvalidConfig = errors.New("provider: invalid config")
	ErrCredential    = errors.New("provider: credential unavailable")
)

// Validate checks the static parts of the configuration.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidConfig)
	}
	switch c.Type {
	case TypeOpenAI, TypeAnthropic, TypeGemini:
		if err := CheckBaseURL(c.BaseURL); err != nil {
			return fmt.Errorf("%w: provider %q: %w", ErrInvalidConfig, c.Name, err)
		}
	case TypeMock:
	default:
		return fmt.Errorf("%w: provider %q: unknown type %q", ErrInvalidConfig, c.Name, c.Type)
	}
	return nil
}

// Errors of CheckBaseURL. Neither quotes the URL: it may hold a password.
var (
	ErrBaseURL         = errors.New("base_url must be an absolute http(s) URL")
	ErrBaseURLUserinfo = errors.New("base_url must not carry a user or password (a credential goes in api_key_env or --api-key-stdin)")
)

// CheckBaseURL checks a provider's base URL wherever one is accepted (the
// config file, `bulwark providers add`, the admin API): absolute http(s)
// with a host, and no user information — a password there would be stored,
// listed and audited in clear, and no upstream call sends it.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return ErrBaseURL // not err: url.Parse's error quotes the URL
	case u.User != nil:
		return ErrBaseURLUserinfo
	}
	return nil
}

// Speaks reports whether the provider accepts requests in wire family f
// unchanged (the same-dialect fast path).
func (c Config) Speaks(f Family) bool {
	switch c.Type {
	case TypeOpenAI:
		return f == FamilyOpenAI
	case TypeAnthropic:
		return f == FamilyAnthropic
	case TypeGemini:
		return f == FamilyGemini
	case TypeMock:
		return f != FamilyGemini // the mock speaks OpenAI and Anthropic
	}
	return false
}

// Serves reports whether the provider serves upstream model m. Where the
// model goes in the upstream URL (Gemini's model path, an Azure
// deployment), a name that could walk that path is served by nobody.
func (c Config) Serves(m string) bool {
	switch {
	case c.Type == TypeGemini && !gemini.ValidModel(m):
		return false
	case c.Type == TypeOpenAI && openai.IsAzure(c.BaseURL) && !openai.ValidDeployment(m):
		return false
	}
	return len(c.Models) == 0 || slices.Contains(c.Models, m)
}

// APIKey resolves the credential; "" when the provider has none.
func (c Config) APIKey(ctx context.Context) (string, error) {
	if c.Credential == nil {
		return "", nil
	}
	k, err := c.Credential(ctx)
	if err != nil {
		// The cause may name where the key lives; never the key itself.
		return "", fmt.Errorf("%w: provider %q: %w", ErrCredential, c.Name, err)
	}
	return k, nil
}
