package gemini

import "github.com/bulwarkhq/bulwark/internal/llm"

// Without alt=sse, Google streams streamGenerateContent as one JSON array
// whose elements arrive as they are ready: "[" before the first chunk,
// "\n,\r\n" between chunks and "\n]" at the end, with Content-Type
// application/json. Clients that read it (google-api-core's REST
// ResponseIterator, the JSON-array readers of Google's generated REST
// clients) split the array element by element, so each element is written
// and flushed whole.
//
// A failure mid-stream is written as Google's error object,
// {"error":{"code":…,"message":…,"status":…}}, as the last element, then
// the array is closed. No finishReason precedes it, and a client that
// decodes each element as a GenerateContentResponse fails on it, so a cut
// stream never reads as a complete answer.
const (
	arrayOpen  = "["
	arraySep   = "\n,\r\n"
	arrayClose = "\n]"
)

// NewArrayStreamEncoder returns an encoder for one caller stream in the
// JSON-array framing (streamGenerateContent without alt=sse). It encodes
// the same chunks as NewStreamEncoder; only the framing differs. Not safe
// for concurrent use.
func NewArrayStreamEncoder() *StreamEncoder {
	e := NewStreamEncoder()
	e.array = true
	return e
}

// frame appends one chunk: an SSE event, or the next array element.
// Nothing is written after the array was closed.
func (e *StreamEncoder) frame(dst, raw []byte) []byte {
	switch {
	case !e.array:
		return llm.AppendSSE(dst, "", raw)
	case e.ended:
		return dst
	case e.elems == 0:
		dst = append(dst, arrayOpen...)
	default:
		dst = append(dst, arraySep...)
	}
	e.elems++
	return append(dst, raw...)
}

// end closes the array (an empty stream is "[]"); an SSE stream simply
// ends with the body.
func (e *StreamEncoder) end(dst []byte) []byte {
	if !e.array || e.ended {
		return dst
	}
	e.ended = true
	if e.elems == 0 {
		dst = append(dst, arrayOpen...)
	}
	return append(dst, arrayClose...)
}

type arrayCodec struct{ codec }

// ArrayCodec is Codec whose stream encoder writes the JSON-array framing
// (NewArrayStreamEncoder): the codec of a caller that asked for
// streamGenerateContent without alt=sse.
var ArrayCodec llm.Codec = arrayCodec{}

func (arrayCodec) NewStreamEncoder(*llm.Request) llm.StreamEncoder { return NewArrayStreamEncoder() }
