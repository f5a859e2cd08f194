package llmtest

import (
	"errors"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// The table runners below are what every dialect's test file does with its
// tables, written once so that the three codecs are held to the same
// properties the same way. Tables are maps from a case's name (its subtest
// name) to the case; cases run in name order.

// RequestRoundTrips runs RequestRoundTrip on every request of reqs, each
// as a subtest.
func RequestRoundTrips(t *testing.T, d Dialect, reqs map[string]llm.Request) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(reqs)) {
		req := reqs[name]
		t.Run(name, func(t *testing.T) { RequestRoundTrip(t, d, &req) })
	}
}

// ResponseRoundTrips runs ResponseRoundTrip on every response of resps,
// each as a subtest.
func ResponseRoundTrips(t *testing.T, d Dialect, resps map[string]llm.Response) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(resps)) {
		resp := resps[name]
		t.Run(name, func(t *testing.T) { ResponseRoundTrip(t, d, &resp) })
	}
}

// RejectsRequests checks, each body as a subtest, that d's request
// decoder refuses it with an error wrapping llm.ErrMalformed (which the
// gateway answers with 400, never 500).
func RejectsRequests(t *testing.T, d Dialect, bodies map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(bodies)) {
		body := bodies[name]
		t.Run(name, func(t *testing.T) {
			if _, err := d.DecodeRequest([]byte(body)); !errors.Is(err, llm.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// DecodeFile reads the request body at path and decodes it with d,
// failing t if either step fails.
func DecodeFile(t *testing.T, d Dialect, path string) *llm.Request {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := d.DecodeRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// DecodeData feeds each of data to dec as one SSE data payload with no
// event name, and returns the events decoded, failing t on an error.
func DecodeData(t *testing.T, dec llm.StreamDecoder, data ...string) []llm.StreamEvent {
	t.Helper()
	var evs []llm.StreamEvent
	for _, d := range data {
		var err error
		if evs, err = dec.Decode(evs, "", []byte(d)); err != nil {
			t.Fatalf("decode %s: %v", d, err)
		}
	}
	return evs
}

// FuzzRequests is a request-decoder fuzz target: it seeds f with the files
// at paths and with every request of reqs as d encodes it, then runs
// FuzzRequestBody on every input.
func FuzzRequests(f *testing.F, d Dialect, reqs map[string]llm.Request, paths ...string) {
	f.Helper()
	AddSeeds(f, paths...)
	for _, name := range slices.Sorted(maps.Keys(reqs)) {
		req := reqs[name]
		body, _, err := d.EncodeRequest(&req)
		if err != nil {
			f.Fatalf("%s: encode: %v", name, err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, data []byte) { FuzzRequestBody(t, d, data) })
}

// FuzzResponses is a response-decoder fuzz target seeded with the files at
// paths; it runs FuzzResponseBody on every input.
func FuzzResponses(f *testing.F, d Dialect, paths ...string) {
	f.Helper()
	AddSeeds(f, paths...)
	f.Fuzz(func(t *testing.T, data []byte) { FuzzResponseBody(t, d, data) })
}

// FuzzStreams is a stream-decoder fuzz target seeded with the SSE bodies
// at paths; it runs FuzzStreamBody on every input.
func FuzzStreams(f *testing.F, d Dialect, paths ...string) {
	f.Helper()
	AddSeeds(f, paths...)
	f.Fuzz(func(t *testing.T, data []byte) { FuzzStreamBody(t, d, data) })
}
