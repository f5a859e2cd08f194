package llmtest

import (
	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
)

// Dialect bundles one dialect's codec functions with a default target.
type Dialect struct {
	Name           string
	DecodeRequest  func([]byte) (*llm.Request, error)
	EncodeRequest  func(*llm.Request) ([]byte, llm.Dropped, error)
	DecodeResponse func([]byte) (*llm.Response, error)
	EncodeResponse func(*llm.Response) ([]byte, llm.Dropped, error)
	NewDecoder     func() llm.StreamDecoder
	NewEncoder     func(includeUsage bool) llm.StreamEncoder
}

func fromCodec(c llm.Codec, t llm.Target) Dialect {
	return Dialect{
		Name: c.Name(), DecodeRequest: c.DecodeRequest,
		EncodeRequest:  func(r *llm.Request) ([]byte, llm.Dropped, error) { return c.EncodeRequest(r, t) },
		DecodeResponse: c.DecodeResponse, EncodeResponse: c.EncodeResponse,
		NewDecoder: c.NewStreamDecoder,
		NewEncoder: func(u bool) llm.StreamEncoder { return c.NewStreamEncoder(&llm.Request{IncludeUsage: u}) },
	}
}

// Dialects lists the three codecs: openai, anthropic (version 2023-06-01),
// gemini.
var Dialects = []Dialect{
	fromCodec(openai.Codec, llm.Target{}),
	fromCodec(anthropic.Codec, llm.Target{Version: anthropic.Version20230601}),
	fromCodec(gemini.Codec, llm.Target{}),
}
