package llmtest

import (
	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
)

// Dialect bundles one dialect's codec functions.
type Dialect struct {
	Name           string
	DecodeRequest  func([]byte) (*llm.Request, error)
	EncodeRequest  func(*llm.Request) ([]byte, llm.Dropped, error)
	DecodeResponse func([]byte) (*llm.Response, error)
	EncodeResponse func(*llm.Response) ([]byte, llm.Dropped, error)
	NewDecoder     func() llm.StreamDecoder
	NewEncoder     func(includeUsage bool) llm.StreamEncoder
}

// Dialects lists the three codecs, each with its default target.
var Dialects = []Dialect{
	{
		Name: "openai", DecodeRequest: openai.DecodeRequest,
		EncodeRequest: func(r *llm.Request) ([]byte, llm.Dropped, error) {
			return openai.EncodeRequest(r, openai.Target{})
		},
		DecodeResponse: openai.DecodeResponse, EncodeResponse: openai.EncodeResponse,
		NewDecoder: func() llm.StreamDecoder { return openai.NewStreamDecoder() },
		NewEncoder: func(u bool) llm.StreamEncoder { return openai.NewStreamEncoder(u) },
	},
	{
		Name: "anthropic", DecodeRequest: anthropic.DecodeRequest,
		EncodeRequest: func(r *llm.Request) ([]byte, llm.Dropped, error) {
			return anthropic.EncodeRequest(r, anthropic.Target{Version: anthropic.Version20230601})
		},
		DecodeResponse: anthropic.DecodeResponse, EncodeResponse: anthropic.EncodeResponse,
		NewDecoder: func() llm.StreamDecoder { return anthropic.NewStreamDecoder() },
		NewEncoder: func(bool) llm.StreamEncoder { return anthropic.NewStreamEncoder() },
	},
	{
		Name: "gemini", DecodeRequest: gemini.DecodeRequest, EncodeRequest: gemini.EncodeRequest,
		DecodeResponse: gemini.DecodeResponse, EncodeResponse: gemini.EncodeResponse,
		NewDecoder: func() llm.StreamDecoder { return gemini.NewStreamDecoder() },
		NewEncoder: func(bool) llm.StreamEncoder { return gemini.NewStreamEncoder() },
	},
}
