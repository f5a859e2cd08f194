package gemini_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

// arrayCases are upstream (alt=sse) streams and what the caller of a
// JSON-array stream must get for them.
var arrayCases = []struct {
	name     string
	upstream string
	// want is the exact array body; wantErr that the stream failed.
	want    string
	wantErr bool
}{
	{
		name:     "two chunks",
		upstream: "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}],\"responseId\":\"r\"}\r\n\r\n" + "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1,\"totalTokenCount\":4},\"responseId\":\"r\"}\r\n\r\n",
		want: `[{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"responseId":"r"}` + "\n,\r\n" +
			`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"responseId":"r"}` + "\n]",
	},
	{
		name:     "cut after a chunk ends with an error element",
		upstream: "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}],\"responseId\":\"r\"}\r\n\r\n",
		want: `[{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"responseId":"r"}` + "\n,\r\n" +
			`{"error":{"code":500,"message":"upstream stream ended before completion","status":"INTERNAL"}}` + "\n]",
		wantErr: true,
	},
	{
		name:     "upstream error before any chunk",
		upstream: "data: {\"error\":{\"code\":429,\"message\":\"quota for project 123\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n",
		want:     `[{"error":{"code":429,"message":"upstream error","status":"RESOURCE_EXHAUSTED"}}` + "\n]",
		wantErr:  true,
	},
	{
		name:     "garbage mid-stream",
		upstream: "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\r\n\r\ndata: {not json\r\n\r\n",
		want: `[{"candidates":[{"content":{"role":"model","parts":[{"text":"a"}]},"index":0}]}` + "\n,\r\n" +
			`{"error":{"code":500,"message":"upstream stream failed","status":"INTERNAL"}}` + "\n]",
		wantErr: true,
	},
	{
		name:     "empty upstream body",
		upstream: "",
		want:     `[{"error":{"code":500,"message":"upstream stream ended before completion","status":"INTERNAL"}}` + "\n]",
		wantErr:  true,
	},
}

// relay runs llm.Relay from an upstream SSE body into enc, recording the
// bytes of each write (one write per flushed element group).
func relay(upstream string, enc llm.StreamEncoder) (out []byte, writes int, err error) {
	var buf bytes.Buffer
	_, err = llm.Relay(&buf, func() { writes++ }, llmtest.NewSSEReader(strings.NewReader(upstream)), gemini.NewStreamDecoder(), enc)
	return buf.Bytes(), writes, err
}

func TestArrayStream(t *testing.T) {
	for _, tt := range arrayCases {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := relay(tt.upstream, gemini.NewArrayStreamEncoder())
			if (err != nil) != tt.wantErr || err != nil && !errors.Is(err, llm.ErrUpstreamStream) {
				t.Fatalf("relay err = %v, want failure %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("body\n%q\nwant\n%q", got, tt.want)
			}
			checkArray(t, tt.upstream, got, err != nil)
		})
	}
}

// TestArrayStreamFlushesPerElement checks that each chunk is written and
// flushed as it is produced, never held to the end.
func TestArrayStreamFlushesPerElement(t *testing.T) {
	up := strings.Repeat("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"w \"}]}}]}\r\n\r\n", 5) +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"
	got, writes, err := relay(up, gemini.NewArrayStreamEncoder())
	if err != nil {
		t.Fatal(err)
	}
	if writes != 6 {
		t.Errorf("flushes = %d, want one per upstream chunk (6)", writes)
	}
	if n := strings.Count(string(got), "\n,\r\n"); n != 5 {
		t.Errorf("separators = %d, want 5 in %q", n, got)
	}
}

// TestArrayCodecStreams checks ArrayCodec is Codec with the array framing.
func TestArrayCodecStreams(t *testing.T) {
	enc := gemini.ArrayCodec.NewStreamEncoder(&llm.Request{})
	b, err := enc.Encode(nil, llm.StreamEvent{Type: llm.EventBlockDelta, Delta: &llm.Delta{Type: llm.DeltaText, Text: "x"}})
	if err != nil || !bytes.HasPrefix(b, []byte(`[{"candidates"`)) {
		t.Fatalf("first element %q, %v", b, err)
	}
	if gemini.ArrayCodec.Name() != gemini.Codec.Name() {
		t.Error("ArrayCodec is another dialect")
	}
}

// checkArray asserts what clients rely on: the body is one JSON array
// whose elements are exactly the chunks of the SSE framing, which Google's
// REST stream reader splits the same way, and it ends with an error
// element exactly when the stream failed.
func checkArray(t *testing.T, upstream string, body []byte, failed bool) {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		t.Fatalf("body is not a JSON array: %v\n%q", err, body)
	}
	sse, _, _ := relay(upstream, gemini.NewStreamEncoder())
	frames := llmtest.SplitSSE(sse)
	if len(frames) != len(elems) {
		t.Fatalf("%d elements, %d SSE chunks", len(elems), len(frames))
	}
	split := splitLikeAPICore(t, body)
	for i := range elems {
		if !bytes.Equal(elems[i], frames[i].Data) || split[i] != string(frames[i].Data) {
			t.Errorf("element %d = %s, SSE chunk %s, split %s", i, elems[i], frames[i].Data, split[i])
		}
		isErr := bytes.HasPrefix(elems[i], []byte(`{"error":`))
		if isErr != (failed && i == len(elems)-1) {
			t.Errorf("element %d error=%v, stream failed=%v: %s", i, isErr, failed, elems[i])
		}
		if failed && bytes.Contains(elems[i], []byte(`"finishReason"`)) {
			t.Errorf("a failed stream carries a finishReason: %s", elems[i])
		}
	}
}

// splitLikeAPICore splits a JSON-array stream as google-api-core's REST
// ResponseIterator does (brace depth outside strings, whitespace outside
// strings dropped, the body must start with '['), one byte at a time.
func splitLikeAPICore(t *testing.T, body []byte) []string {
	t.Helper()
	if len(body) == 0 || body[0] != '[' {
		t.Fatalf("stream does not start with '[': %q", body)
	}
	var (
		out              []string
		obj              strings.Builder
		level            int
		inString, escape bool
	)
	for _, c := range body {
		switch {
		case c == '{':
			if level == 1 {
				obj.Reset()
			}
			if !inString {
				level++
			}
			obj.WriteByte(c)
		case c == '}':
			obj.WriteByte(c)
			if !inString {
				level--
				if level == 1 {
					out = append(out, obj.String())
				}
			}
		case c == '"':
			if !escape {
				inString = !inString
			}
			obj.WriteByte(c)
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
			if inString {
				obj.WriteByte(c)
			}
		case c == '[' && level == 0:
			level++
		case c == ']' && level == 1:
			level--
		default:
			obj.WriteByte(c)
		}
		escape = c == '\\' && !escape
	}
	if level != 0 {
		t.Fatalf("unfinished stream: level %d", level)
	}
	return out
}

// FuzzArrayStream relays arbitrary upstream SSE bodies into the array
// framing: the body is always one closed JSON array, element for element
// the SSE chunks, with an error element last exactly when the relay failed.
func FuzzArrayStream(f *testing.F) {
	for _, tt := range arrayCases {
		f.Add([]byte(tt.upstream))
	}
	llmtest.AddSeeds(f, "../testdata/gemini.stream.sse", "../testdata/gemini_truncated.stream.sse")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := relay(string(data), gemini.NewArrayStreamEncoder())
		if err != nil && !errors.Is(err, llm.ErrUpstreamStream) {
			t.Fatalf("encoder refused a decoded event: %v", err)
		}
		checkArray(t, string(data), got, err != nil)
	})
}

// BenchmarkStreamFraming relays a 64-chunk upstream stream to an SSE and to
// a JSON-array caller: the array framing must cost no more than SSE's.
func BenchmarkStreamFraming(b *testing.B) {
	up := strings.Repeat("data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"some words \"}]}}],\"responseId\":\"r\"}\r\n\r\n", 63) +
		"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":64,\"totalTokenCount\":67}}\r\n\r\n"
	for _, bc := range []struct {
		name string
		enc  func() llm.StreamEncoder
	}{
		{"sse", func() llm.StreamEncoder { return gemini.NewStreamEncoder() }},
		{"array", func() llm.StreamEncoder { return gemini.NewArrayStreamEncoder() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := relay(up, bc.enc()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
