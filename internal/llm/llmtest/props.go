package llmtest

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// Canon renders a canonical value as JSON so that nil and empty slices,
// which mean the same, compare equal.
func Canon(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// RequestRoundTrip checks decode(encode(req)) == req with nothing dropped:
// the property of every request a dialect can carry.
func RequestRoundTrip(t *testing.T, d Dialect, req *llm.Request) {
	t.Helper()
	body, dropped, err := d.EncodeRequest(req)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if len(dropped) > 0 {
		t.Errorf("dropped %v from a request %s can carry", dropped, d.Name)
	}
	got, err := d.DecodeRequest(body)
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if g, w := Canon(t, got), Canon(t, req); g != w {
		t.Errorf("round trip changed the request\n got %s\nwant %s\nbody %s", g, w, body)
	}
}

// ResponseRoundTrip checks decode(encode(resp)) == resp.
func ResponseRoundTrip(t *testing.T, d Dialect, resp *llm.Response) {
	t.Helper()
	body, dropped, err := d.EncodeResponse(resp)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if len(dropped) > 0 {
		t.Errorf("dropped %v from a response %s can carry", dropped, d.Name)
	}
	got, err := d.DecodeResponse(body)
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if g, w := Canon(t, got), Canon(t, resp); g != w {
		t.Errorf("round trip changed the response\n got %s\nwant %s\nbody %s", g, w, body)
	}
}

// StreamRoundTrip encodes events with the dialect's encoder, splits the
// bytes into SSE events and decodes them again, expecting the same events.
func StreamRoundTrip(t *testing.T, d Dialect, events []llm.StreamEvent) {
	t.Helper()
	enc := d.NewEncoder(true)
	var body []byte
	for _, ev := range events {
		var err error
		if body, err = enc.Encode(body, ev); err != nil {
			t.Fatalf("encode %s: %v", ev.Type, err)
		}
	}
	dec := d.NewDecoder()
	var got []llm.StreamEvent
	for _, f := range SplitSSE(body) {
		var err error
		if got, err = dec.Decode(got, f.Event, f.Data); err != nil {
			t.Fatalf("decode %q: %v", f.Data, err)
		}
	}
	got = dec.End(got)
	if g, w := Canon(t, got), Canon(t, events); g != w {
		t.Errorf("stream round trip changed the events\n got %s\nwant %s\nbody %s", g, w, body)
	}
}

// AddSeeds adds the files as fuzz seeds; a missing file fails the fuzz
// test, so fixtures cannot silently vanish from the corpus.
func AddSeeds(f *testing.F, paths ...string) {
	f.Helper()
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
}

// FuzzRequestBody is the body of every request-decoder fuzz target: the
// decoder never panics, fails only with llm.ErrMalformed, and whatever it
// accepts can be encoded for every dialect and read back by its own.
func FuzzRequestBody(t *testing.T, d Dialect, data []byte) {
	req, err := d.DecodeRequest(data)
	if err != nil {
		if !errors.Is(err, llm.ErrMalformed) {
			t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
		}
		return
	}
	for _, to := range Dialects {
		if _, _, err := to.EncodeRequest(req); err != nil {
			t.Fatalf("accepted request cannot be encoded for %s: %v", to.Name, err)
		}
	}
	body, _, _ := d.EncodeRequest(req)
	if _, err := d.DecodeRequest(body); err != nil {
		t.Fatalf("own encoding does not decode: %v\n%s", err, body)
	}
}

// FuzzResponseBody is the body of every response-decoder fuzz target.
func FuzzResponseBody(t *testing.T, d Dialect, data []byte) {
	resp, err := d.DecodeResponse(data)
	if err != nil {
		if !errors.Is(err, llm.ErrMalformed) {
			t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
		}
		return
	}
	for _, to := range Dialects {
		if _, _, err := to.EncodeResponse(resp); err != nil {
			t.Fatalf("accepted response cannot be encoded for %s: %v", to.Name, err)
		}
	}
}

// FuzzStreamBody is the body of every stream-decoder fuzz target: data is
// an SSE body; decoding never panics, and the events it yields always form a
// sequence the OpenAI and Anthropic encoders accept.
func FuzzStreamBody(t *testing.T, d Dialect, data []byte) {
	dec := d.NewDecoder()
	encs := []llm.StreamEncoder{Dialects[0].NewEncoder(true), Dialects[1].NewEncoder(true)}
	var out []byte
	feed := func(evs []llm.StreamEvent) {
		for _, ev := range evs {
			for _, e := range encs {
				var err error
				if out, err = e.Encode(out[:0], ev); err != nil {
					t.Fatalf("decoded event %+v rejected by encoder: %v", ev, err)
				}
			}
		}
	}
	for _, f := range SplitSSE(data) {
		evs, err := dec.Decode(nil, f.Event, f.Data)
		if err != nil {
			if !errors.Is(err, llm.ErrMalformed) {
				t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		feed(evs)
	}
	feed(dec.End(nil))
}
