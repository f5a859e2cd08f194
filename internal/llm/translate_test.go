package llm_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

func dialect(t *testing.T, name string) llmtest.Dialect {
	t.Helper()
	for _, d := range llmtest.Dialects {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no dialect %q", name)
	return llmtest.Dialect{}
}

// read returns the file testdata/name, failing tb if it cannot.
func read(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// encoded is the golden form of one encoding: the dropped features and the
// body the upstream or caller receives.
type encoded struct {
	Dropped llm.Dropped     `json:"dropped"`
	Body    json.RawMessage `json:"body"`
}

func TestRequestTranslation(t *testing.T) {
	tests := []struct {
		name, from string
	}{
		{"claude_code", "anthropic"},
		{"openai_tools", "openai"},
		{"gemini_functions", "gemini"},
	}
	for _, tt := range tests {
		req, err := dialect(t, tt.from).DecodeRequest(read(t, tt.name+".request.json"))
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		t.Run(tt.name+"/canonical", func(t *testing.T) {
			llmtest.Golden(t, filepath.Join("testdata", "golden", tt.name+".canonical.json"), llmtest.MustJSON(t, req))
		})
		for _, to := range llmtest.Dialects {
			t.Run(tt.name+"/to_"+to.Name, func(t *testing.T) {
				body, dropped, err := to.EncodeRequest(req)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if !json.Valid(body) {
					t.Fatalf("encoded body is not JSON: %s", body)
				}
				got := llmtest.MustJSON(t, encoded{Dropped: dropped, Body: body})
				llmtest.Golden(t, filepath.Join("testdata", "golden", tt.name+".to_"+to.Name+".json"), got)
			})
		}
	}
}

func TestResponseTranslation(t *testing.T) {
	for _, from := range llmtest.Dialects {
		resp, err := from.DecodeResponse(read(t, from.Name+".response.json"))
		if err != nil {
			t.Fatalf("%s: decode: %v", from.Name, err)
		}
		for _, to := range llmtest.Dialects {
			t.Run(from.Name+"/to_"+to.Name, func(t *testing.T) {
				body, dropped, err := to.EncodeResponse(resp)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				got := llmtest.MustJSON(t, encoded{Dropped: dropped, Body: body})
				llmtest.Golden(t, filepath.Join("testdata", "golden", from.Name+".response.to_"+to.Name+".json"), got)
			})
		}
	}
}

// translate feeds the upstream frames one by one through a decoder and an
// encoder and returns the caller bytes produced by each frame, then those
// produced by the end of the upstream body.
func translate(t *testing.T, from, to llmtest.Dialect, body []byte) (steps [][]byte, events [][]llm.StreamEvent) {
	t.Helper()
	dec, enc := from.NewDecoder(), to.NewEncoder(true)
	run := func(evs []llm.StreamEvent) []byte {
		var out []byte
		for _, ev := range evs {
			var err error
			if out, err = enc.Encode(out, ev); err != nil {
				t.Fatalf("encode %s: %v", ev.Type, err)
			}
		}
		return out
	}
	for _, f := range llmtest.SplitSSE(body) {
		evs, err := dec.Decode(nil, f.Event, f.Data)
		if err != nil {
			t.Fatalf("decode %q: %v", f.Data, err)
		}
		steps, events = append(steps, run(evs)), append(events, evs)
	}
	evs := dec.End(nil)
	return append(steps, run(evs)), append(events, evs)
}

func escaped(s string) []byte {
	raw, _ := json.Marshal(s)
	return raw[1 : len(raw)-1]
}

func TestStreamTranslation(t *testing.T) {
	for _, from := range llmtest.Dialects {
		body := read(t, from.Name+".stream.sse")
		for _, to := range llmtest.Dialects {
			t.Run(from.Name+"/to_"+to.Name, func(t *testing.T) {
				steps, events := translate(t, from, to, body)
				// Incremental: each upstream frame's text and tool-argument
				// fragments are in the bytes produced for that very frame.
				for i, evs := range events {
					for _, ev := range evs {
						if ev.Type != llm.EventBlockDelta || ev.Delta.Text == "" {
							continue
						}
						carried := ev.Delta.Type == llm.DeltaText ||
							ev.Delta.Type == llm.DeltaInputJSON && to.Name != "gemini" ||
							ev.Delta.Type == llm.DeltaThinking && to.Name != "openai"
						if carried && !bytes.Contains(steps[i], escaped(ev.Delta.Text)) {
							t.Errorf("frame %d: %s delta %q not emitted at once; got %q", i, ev.Delta.Type, ev.Delta.Text, steps[i])
						}
					}
				}
				for i, s := range steps {
					if len(s) > 0 && !bytes.HasSuffix(s, []byte("\n\n")) {
						t.Errorf("step %d does not end with a blank line: %q", i, s)
					}
				}
				llmtest.Golden(t, filepath.Join("testdata", "golden", from.Name+".stream.to_"+to.Name+".sse"), bytes.Join(steps, nil))
			})
		}
	}
}

func TestStreamErrorEndsHonestly(t *testing.T) {
	cleanEnd := map[string]string{"openai": "[DONE]", "anthropic": "message_stop", "gemini": "finishReason"}
	errorMark := map[string]string{"openai": `data: {"error":`, "anthropic": "event: error", "gemini": `data: {"error":`}
	tests := []struct{ name, from string }{
		{"openai_error", "openai"},
		{"anthropic_error", "anthropic"},
		{"gemini_truncated", "gemini"},
	}
	for _, tt := range tests {
		for _, to := range llmtest.Dialects {
			t.Run(tt.name+"/to_"+to.Name, func(t *testing.T) {
				steps, _ := translate(t, dialect(t, tt.from), to, read(t, tt.name+".stream.sse"))
				out := string(bytes.Join(steps, nil))
				if !strings.Contains(out, "Partial") {
					t.Errorf("content before the failure was not delivered: %s", out)
				}
				if strings.Contains(out, cleanEnd[to.Name]) {
					t.Errorf("failed stream ends cleanly with %q: %s", cleanEnd[to.Name], out)
				}
				last := llmtest.SplitSSE([]byte(out))
				if len(last) == 0 || !strings.Contains(string(frameText(last[len(last)-1])), errorMark[to.Name]) {
					t.Errorf("last event is not an error in the caller's dialect: %s", out)
				}
				for _, secret := range []string{"sk-live-123", "/srv/secret", "10.0.0.7", "/internal/path"} {
					if strings.Contains(out, secret) {
						t.Errorf("upstream error detail %q leaked to the caller", secret)
					}
				}
			})
		}
	}
}

func frameText(f llmtest.Frame) []byte {
	var b []byte
	if f.Event != "" {
		b = append(b, "event: "+f.Event+"\n"...)
	}
	return append(append(b, "data: "...), f.Data...)
}
