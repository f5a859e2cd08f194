package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// TestStreamEndKeepsUpstreamConnection checks that a stream ending
// cleanly leaves its upstream connection reusable (the gateway reads the
// body to its end), and that an upstream holding its stream open after the
// terminal event cannot hold the client's stream open with it.
func TestStreamEndKeepsUpstreamConnection(t *testing.T) {
	tests := []struct {
		name      string
		hang      bool // the upstream keeps the body open after [DONE]
		requests  int
		maxConns  int64
		maxSingle time.Duration
	}{
		{name: "clean end reuses the connection", requests: 10, maxConns: 2, maxSingle: 5 * time.Second},
		{name: "upstream hanging after done", hang: true, requests: 2, maxConns: 2, maxSingle: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				for _, word := range []string{"hello", " world"} {
					fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word)
				}
				fmt.Fprint(w, "data: [DONE]\n\n")
				w.(http.Flusher).Flush()
				if tt.hang {
					select {
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				// The end of the body follows a moment later, as it does
				// from a real upstream under load, not in the same packet.
				time.Sleep(2 * time.Millisecond)
			}))
			var conns atomic.Int64
			up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			up.Start()
			t.Cleanup(up.Close)
			t.Cleanup(func() { close(release) })
			e := newEnv(t, func(_ *Config, d *Deps) {
				src := d.Providers.(mapSource)
				d.Providers = append(src, provider.Config{Name: "reuse", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
					Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
			})
			for i := range tt.requests {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/chat/completions", strings.NewReader(
					`{"model":"reuse/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Authorization", "Bearer test")
				resp, err := e.gw.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
					t.Fatalf("request %d: status %d, err %v, body %q", i, resp.StatusCode, err, body)
				}
				if d := time.Since(start); d > tt.maxSingle {
					t.Fatalf("request %d took %v (limit %v): the upstream held the client's stream open", i, d, tt.maxSingle)
				}
			}
			if n := conns.Load(); n > tt.maxConns {
				t.Fatalf("%d requests opened %d upstream connections, want at most %d", tt.requests, n, tt.maxConns)
			}
		})
	}
}

// The text a relay counts as delivered is the first choice's, whether its
// delta is found by the full path (when a filter rewrites it) or in place.
func TestDeliveredLen(t *testing.T) {
	chunks := []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" wor\"ld\\"},"logprobs":null,"finish_reason":null}]}`,
		`{"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"id":"x"}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c \"delta\": {\"content\":\"no\"}","choices":[{"index":0,"delta":{"content":"yes"}}]}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":1}}`,
		`{"id":"c","choices":[{"index":0,"delta":`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"caf\u00e9 \ud83d\ude00"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta" :	{"content":"spaced"}}]}`,
		`{"choices":[{"delta":{"content":"ab"}},{"delta":{"content":"c"}}]}`, // the first choice's
		`{"id":"\u0041","choices":[{"index":0,"delta":{"content":"xyz"}}]}`,  // a letter escape elsewhere
	}
	want := []int{8, 0, 8, 5, 0, 3, 0, 0, 10, 6, 2, 3}
	for i, c := range chunks {
		exact := deltaLen(gjson.Get(c, "choices.0.delta"))
		if got := deliveredLen([]byte(c)); got != exact || got != want[i] {
			t.Errorf("%s: in place %d, full path %d, want %d", c, got, exact, want[i])
		}
	}
}

// deliveredLen is what the relay counts of one chunk's text.
func deliveredLen(data []byte) int {
	_, _, delta := scanChunk(data)
	return deliveredAt(data, delta)
}

// deltaSearch is the search for `"delta":` that scanChunk's walk
// replaced, kept as its reference: where the first such member's value
// starts, or -1.
func deltaSearch(data []byte) int {
	i := bytes.Index(data, []byte(`"delta":`))
	if i < 0 {
		return -1
	}
	return i + len(`"delta":`)
}

// spacedDelta is a "delta" name with whitespace before its colon, which
// the walk reads (as the JSON parser does) and the search did not.
var spacedDelta = regexp.MustCompile(`"delta"[ \t\r\n]+:`)

// FuzzDeliveredAgrees: on any bytes, the walk finds the "delta" member the
// search it replaced found — the same first one, whatever else the chunk
// holds (letter escapes included) — except where the search missed one
// spelt with whitespace before its colon.
func FuzzDeliveredAgrees(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`,
		`{"a":"\"delta\":1","choices":[{"delta":{"content":"x\"y"}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"a\":"}}]}}]}`,
		`"delta":`,
		`{"usag\u0065":{},"delta":{}}`,
		`{"choices":[{"delta":{"content":"ab"}},{"delta":{"content":"c"}}]}`,
		`{"id":"\u0041","choices":[{"index":0,"delta":{"content":"xyz"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if spacedDelta.Match(data) {
			return
		}
		if _, _, got := scanChunk(data); got != deltaSearch(data) {
			t.Fatalf("scanChunk(%q) finds the delta at %d; the search at %d", data, got, deltaSearch(data))
		}
	})
}

// Streamed answers are recognised by their media type, with or without
// parameters, in any case; lookalikes are not.
func TestIsEventStream(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"text/event-stream; charset=utf-8", true},
		{"text/event-stream;charset=UTF-8", true},
		{"Text/Event-Stream", true},
		{" text/event-stream ", true},
		{"text/event-streaming", false},
		{"text/event-stream-x; charset=utf-8", false},
		{"application/json", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			if got := isEventStream(http.Header{"Content-Type": {tt.ct}}); got != tt.want {
				t.Errorf("isEventStream(%q) = %v, want %v", tt.ct, got, tt.want)
			}
		})
	}
}

// A chunk is passed over only when no "usage" or "error" member can hold
// a value: every chunk whose usage FromOpenAI would read, or whose error
// an SDK would raise, is parsed.
func TestChunkMembers(t *testing.T) {
	tests := []struct {
		chunk        string
		usage, error bool
	}{
		{`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`, false, false},
		{`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage" : null }`, false, false},
		{`{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}`, true, false},
		{`{"id":"c","choices":[],"usage" :{"prompt_tokens":3}}`, true, false},
		{"{\"id\":\"c\",\"usage\"\r\n\t:\n{}}", true, false},
		{`{"id":"c","choices":[{"delta":{"content":"usage"}}]}`, false, false},
		{`{"id":"c","choices":[{"delta":{"content":"\"usage\": {}"}}],"usage":null}`, false, false},
		{`{"id":"c","choices":[{"delta":{"content":"error: usage: x"}}],"usage":null}`, false, false},
		{`{"x":{"usage":null},"usage":{"prompt_tokens":1}}`, true, false},
		{`{"id":"c","choices":[{"delta":{"content":"hi"}}]}`, false, false},
		{`{"id":"c","choices":[],"usag\u0065":{"prompt_tokens":3}}`, true, true}, // "usage" to the parser
		{`{"id":"c","choices":[],"\u0075sage":{"prompt_tokens":3}}`, true, true},
		{`{"id":"c","choices":[{"delta":{"content":"caf\u00e9"}}],"usage":null}`, false, false},
		{`{"id":"c","object":"chat.completion.chunk","error":{"message":"overloaded"}}`, false, true},
		{`{"error":"x"}`, false, true},
		{`{"id":"c","error":null,"usage":null}`, false, false},
		{`{"id":"c","xerror":{"m":1},"usagex":{"n":2}}`, false, false},
		{`{"id":"c","usage":{"n":2},"error":{"m":1}}`, true, true},
		{`usage":{}`, false, false}, // no opening quote before the name
	}
	for _, tt := range tests {
		u, e, _ := scanChunk([]byte(tt.chunk))
		if u != tt.usage || e != tt.error {
			t.Errorf("scanChunk(%s) = %v, %v; want %v, %v", tt.chunk, u, e, tt.usage, tt.error)
		}
	}
}

// tailMember is the search scanChunk replaced, kept as its reference:
// a member whose name ends in tail (the name and its closing quote) and
// whose value is not null.
func tailMember(data []byte, name string) bool {
	tail := []byte(name + `"`)
	for i := 1; i < len(data); i++ {
		j := bytes.Index(data[i:], tail)
		if j < 0 {
			return false
		}
		i += j
		if data[i-1] != '"' {
			continue
		}
		rest := skipSpace(data[i+len(tail):])
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		if !bytes.HasPrefix(skipSpace(rest[1:]), nullValue) {
			return true
		}
	}
	return false
}

// The colon walk finds exactly what a search for each name finds, on any
// bytes (valid JSON or not).
func FuzzChunkMembersAgree(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`,
		`{"id":"c","usage" :{"prompt_tokens":3},"error":{"m":1}}`,
		`{"a":"\"usage\":1","error"` + "\t\n:" + `true}`,
		`"usage":"error":`,
		`{"usag\u0065":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, e, _ := scanChunk(data)
		if escapesLetter(data) {
			if !u || !e {
				t.Fatalf("%q escapes a letter but was passed over", data)
			}
			return
		}
		if wu, we := tailMember(data, "usage"), tailMember(data, "error"); u != wu || e != we {
			t.Fatalf("scanChunk(%q) = %v, %v; the name search finds %v, %v", data, u, e, wu, we)
		}
	})
}

func FuzzMayCarryUsage(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}`,
		`{"x":{"usage":null},"usage":{"prompt_tokens":1}}`,
		`{"usage"  :  {"prompt_tokens":1}}`,
		`{"choices":[],"usag\u0065":{"prompt_tokens":3}}`,
		`{"id":"c","error" : {"message":"x"}}`,
		`{"id":"c","err\u006fr":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !gjson.ValidBytes(data) {
			return // upstream chunks are JSON; gjson reads usage even from broken text
		}
		mayUsage, mayError, _ := scanChunk(data)
		if _, ok := usage.FromOpenAI(data); ok && !mayUsage {
			t.Fatalf("usage in %q was passed over", data)
		}
		if truthy(gjson.GetBytes(data, "error")) && !mayError {
			t.Fatalf("the error in %q was passed over", data)
		}
	})
}

// The scan of a leading content string measures what the JSON parser
// would, whenever it answers at all.
func FuzzLeadingContentLen(f *testing.F) {
	for _, s := range []string{
		`{"content":"hello"},"logprobs":null}]}`,
		`{"content":" wor\"ld\\"}}`,
		`{"content":"tab\there\n"}`,
		`{"content":"caf\u00e9"}`,
		`{"content":"unterminated`,
		`{"content":""}`,
		`{"role":"assistant","content":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, delta []byte) {
		n, ok := leadingContentLen(delta)
		if !ok {
			return
		}
		if want := deltaLen(gjson.ParseBytes(delta)); n != want {
			t.Fatalf("leadingContentLen(%q) = %d, the parser says %d", delta, n, want)
		}
	})
}

// An upstream redirect is never followed: the credential stays with the
// provider's own host, and the client gets a mapped error, not the body of
// wherever the redirect pointed.
func TestUpstreamRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"from elsewhere"}}]}`)
	}))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	e := newEnv(t, func(_ *Config, d *Deps) {
		src := d.Providers.(mapSource)
		for i := range src {
			if src[i].Name == "openai" {
				src[i].BaseURL = redirector.URL + "/v1"
			}
		}
	})
	for _, stream := range []string{"false", "true"} {
		resp, body := e.do(t, "POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","stream":`+stream+`,"messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode < 400 || strings.Contains(string(body), "elsewhere") {
			t.Errorf("stream=%s: status %d body %s, want an error and nothing from the redirect target", stream, resp.StatusCode, body)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target was called %d times", n)
	}
}
