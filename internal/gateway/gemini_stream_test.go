package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// arrayElems parses a JSON-array stream body, failing the test when it is
// not one complete array.
func arrayElems(t *testing.T, b []byte) []json.RawMessage {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		t.Fatalf("body is not a JSON array: %v\n%s", err, b)
	}
	return elems
}

// arrayText concatenates the text parts of a JSON-array stream.
func arrayText(elems []json.RawMessage) string {
	var sb strings.Builder
	for _, el := range elems {
		for _, p := range gjson.GetBytes(el, "candidates.0.content.parts").Array() {
			sb.WriteString(p.Get("text").String())
		}
	}
	return sb.String()
}

// TestGeminiArrayStream serves streamGenerateContent without alt=sse as
// Google does by default: one JSON array, application/json, the same
// chunks and the same usage record as the SSE framing, to every upstream
// family.
func TestGeminiArrayStream(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	const words = "uno dos tres cuatro cinco"
	body := `{"contents":[{"role":"user","parts":[{"text":"` + words + `"}]}]}`
	tests := []struct {
		name, model, query string
		up                 *upstreamtest.Server
		upPath             string
		want               string // the streamed text
	}{
		{name: "gemini upstream", model: "flash", up: gem, upPath: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", want: words},
		{name: "gemini upstream alt=json", model: "flash", query: "?alt=json", up: gem, upPath: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", want: words},
		{name: "openai upstream", model: "fast", up: e.openai, upPath: "/v1/chat/completions", want: words},
		{name: "anthropic upstream", model: "smart", up: e.anth, upPath: "/v1/messages", want: words},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1beta/models/" + tt.model + ":streamGenerateContent"
			resp, b := e.do(t, http.MethodPost, path+tt.query, body, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content-type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if !strings.HasPrefix(string(b), `[{`) || !strings.HasSuffix(string(b), "}\n]") || !strings.Contains(string(b), "}\n,\r\n{") {
				t.Errorf("not Google's array framing: %q", b)
			}
			elems := arrayElems(t, b)
			if got := strings.TrimSpace(arrayText(elems)); got != tt.want {
				t.Errorf("text %q, want %q", got, tt.want)
			}
			last := elems[len(elems)-1]
			if gjson.GetBytes(last, "candidates.0.finishReason").String() != "STOP" || strings.Contains(string(b), `"error"`) {
				t.Errorf("stream did not end cleanly: %s", b)
			}
			if up := tt.up.Last(); up.Path != tt.upPath || tt.up == gem && up.RawQuery != "alt=sse" {
				t.Errorf("upstream %s?%s, want %s", up.Path, up.RawQuery, tt.upPath)
			}
			arr := e.usage.all()
			// The same request in SSE framing must be accounted identically.
			resp, sse := e.do(t, http.MethodPost, path+"?alt=sse", body, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(sse), "data: ") {
				t.Fatalf("sse status %d: %s", resp.StatusCode, sse)
			}
			all := e.usage.all()
			a, s := arr[len(arr)-1], all[len(all)-1]
			if a.Status != 200 || !a.Stream || a.PromptTokens == 0 || a.CompletionTokens == 0 || a.Estimated {
				t.Errorf("array usage record %+v", a)
			}
			if a.Tokens != s.Tokens || a.Estimated != s.Estimated || a.Status != s.Status || a.Model != s.Model {
				t.Errorf("array record %+v differs from the SSE record %+v", a.Tokens, s.Tokens)
			}
		})
	}
}

// TestGeminiArrayStreamEndsHonestly cuts the upstream after the first
// chunks: the array ends with Google's error object (no finishReason, no
// clean end a client could take for a whole answer), and the usage record
// is a 502 estimate of what was delivered.
func TestGeminiArrayStreamEndsHonestly(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	long := strings.Repeat("word ", 40)
	tests := []struct {
		name, model string
		up          *upstreamtest.Server
		// delivered is set when the cut comes after text was streamed
		// (an Anthropic stream spends its first events on framing).
		delivered bool
	}{
		{"gemini upstream cut", "flash", gem, true},
		{"openai upstream cut", "fast", e.openai, true},
		{"anthropic upstream cut", "smart", e.anth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.up.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
			resp, b := e.do(t, http.MethodPost, "/v1beta/models/"+tt.model+":streamGenerateContent",
				`{"contents":[{"role":"user","parts":[{"text":"`+long+`"}]}]}`, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			elems := arrayElems(t, b)
			if tt.delivered && (len(elems) < 2 || arrayText(elems) == "") {
				t.Fatalf("want delivered chunks before the error: %s", b)
			}
			last := elems[len(elems)-1]
			if gjson.GetBytes(last, "error.code").Int() != 500 || gjson.GetBytes(last, "error.status").String() != "INTERNAL" {
				t.Errorf("last element is not Google's error object: %s", last)
			}
			if strings.Contains(string(b), "finishReason") {
				t.Errorf("a cut stream carries a finishReason: %s", b)
			}
			recs := e.usage.all()
			if r := recs[len(recs)-1]; r.Status != http.StatusBadGateway || !r.Estimated || tt.delivered && r.CompletionTokens == 0 {
				t.Errorf("usage record %+v", r)
			}
		})
	}
}

// TestGeminiArrayStreamIsIncremental shows the array is not buffered: a
// client decoding it element by element (as Google's REST readers do)
// holds the first element long before the upstream ends.
func TestGeminiArrayStreamIsIncremental(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	const drip = 150 * time.Millisecond
	gem.SetFault(upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: drip, Times: 1})
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/v1beta/models/flash:streamGenerateContent",
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"one two three four five six seven eight"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bw_clientkey")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var at []time.Duration // when each element was decoded
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		t.Fatalf("stream opens with %v, %v: %d", tok, err, resp.StatusCode)
	}
	for dec.More() {
		var el json.RawMessage
		if err := dec.Decode(&el); err != nil {
			t.Fatal(err)
		}
		at = append(at, time.Since(start))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') || len(at) < 4 {
		t.Fatalf("stream closes with %v, %v after %d elements", tok, err, len(at))
	}
	if total := at[len(at)-1]; total < 4*drip || at[0] > total/2 {
		t.Errorf("first element after %v of %v: the stream was buffered", at[0], total)
	}
}

// TestGeminiStreamAlt refuses framings Google does not serve as JSON.
func TestGeminiStreamAlt(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	resp, b := e.do(t, http.MethodPost, "/v1beta/models/flash:streamGenerateContent?alt=proto", `{"contents":[]}`, nil)
	if resp.StatusCode != http.StatusBadRequest || gjson.GetBytes(b, "error.status").String() != "INVALID_ARGUMENT" {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if n := len(gem.Requests()); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
	if recs := e.usage.all(); len(recs) != 0 && recs[len(recs)-1].Status == http.StatusOK {
		t.Errorf("refused call recorded as a success: %+v", recs)
	}
}
