// Package openai holds the OpenAI wire details Bulwark needs to forward a
// request unchanged: endpoint paths, the bearer credential and the shape of
// an error body. It also serves every OpenAI-compatible server (Ollama,
// vLLM, llama.cpp, Groq, Together) because they share the format.
package openai

import (
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// Endpoint paths relative to a base URL that ends in /v1.
const (
	PathChat       = "/chat/completions"
	PathEmbeddings = "/embeddings"
	PathModels     = "/models"
)

// URL joins base (for example "https://api.openai.com/v1") and path.
func URL(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

// SetAuth sets the upstream's own credential; nothing else authenticates.
func SetAuth(h http.Header, apiKey string) {
	if apiKey != "" {
		h.Set("Authorization", "Bearer "+apiKey)
	}
}

// ErrorMessage extracts error.message from an OpenAI error body, or "".
func ErrorMessage(body []byte) string {
	return gjson.GetBytes(body, "error.message").String()
}
