package anthropic

import "github.com/bulwarkhq/bulwark/internal/llm"

type codec struct{}

// Codec is the anthropic dialect as an llm.Codec.
var Codec llm.Codec = codec{}

func (codec) Name() string { return Dialect }

func (codec) DecodeRequest(b []byte) (*llm.Request, error) { return DecodeRequest(b) }

func (codec) EncodeRequest(r *llm.Request, t llm.Target) ([]byte, llm.Dropped, error) {
	return EncodeRequest(r, t)
}

func (codec) DecodeResponse(b []byte) (*llm.Response, error) { return DecodeResponse(b) }

func (codec) EncodeResponse(r *llm.Response) ([]byte, llm.Dropped, error) { return EncodeResponse(r) }

func (codec) NewStreamDecoder() llm.StreamDecoder { return NewStreamDecoder() }

func (codec) NewStreamEncoder(*llm.Request) llm.StreamEncoder { return NewStreamEncoder() }
