package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/sse"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Stream relays, held to what the official SDKs do with an upstream's
// events: the accumulated usage, errors wherever they stand in a chunk,
// and every complete event delivered before the relay waits again.

// relayAnthropic runs the event relay of an Anthropic stream and settles
// its tokens as relayStream does.
func relayAnthropic(t *testing.T, upstream string) (usage.Record, error) {
	t.Helper()
	x := &exchange{rt: routeMessages, reqBytes: 4000}
	rl := &relayer{x: x, ctx: context.Background(), out: sse.NewWriter(httptest.NewRecorder())}
	rd := sse.NewReader(strings.NewReader(upstream))
	err := rl.run(rd)
	rd.Release()
	rl.settleTokens()
	return x.rec, err
}

// The usage of an Anthropic message_delta may give its input members as
// null (they are nullable in the API: the SDKs' accumulators keep the
// message_start value for a null). The prompt, cache reads and cache
// writes message_start reported must survive.
func TestAnthropicStreamNullDeltaUsageKeepsPrompt(t *testing.T) {
	up := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null," +
		"\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":50000,\"cache_read_input_tokens\":100000,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}," +
		"\"usage\":{\"input_tokens\":null,\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,\"output_tokens\":2}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	rec, err := relayAnthropic(t, up)
	if err != nil {
		t.Fatal(err)
	}
	want := usage.Tokens{PromptTokens: 150010, CachedTokens: 100000, CacheWriteTokens: 50000, CompletionTokens: 2}
	if rec.Tokens != want || rec.Estimated {
		t.Errorf("recorded %+v (estimated %v), want %+v", rec.Tokens, rec.Estimated, want)
	}
}

// The OpenAI SDKs raise on any chunk whose top-level "error" member is
// set (Python: `if is_mapping(data) and data.get("error")`, Node:
// `if (data && data.error)`), wherever the member stands; OpenRouter's
// documented mid-stream error is such a chunk, with "id", "object" … before
// "error". Both relays must treat it as the upstream failure it is — end
// with the gateway's own (scrubbed) error event, never a clean end — as
// they do for a chunk that begins with {"error".
func TestOpenAIErrorChunkNotFirstMember(t *testing.T) {
	const (
		hi    = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
		done  = "data: [DONE]\n\n"
		chunk = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"provider\":\"openai\",%s,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n"
	)
	tests := []struct {
		member  string
		isError bool
	}{
		{`"error":{"code":"server_error","message":"Provider disconnected: sk-upstream-SECRET"}`, true},
		{`"error" : "Provider disconnected"`, true},
		{`"err\u006fr":{"message":"escaped name"}`, true},
		{`"error":null`, false},
		{`"error":{}`, false}, // falsy to the SDKs
		{`"error":false`, false},
		{`"note":"error"`, false},
		{`"x":{"error":{"message":"nested"}}`, false},
	}
	// A chunk cut inside its error object is no success either (and must
	// not panic the relay: FuzzPass found that).
	for _, pass := range []bool{false, true} {
		if got := relayWith(t, pass, strings.NewReader(hi+"data: {\"error\":{\n\n"+done)); !got.err {
			t.Errorf("pass-through %v: a cut error chunk ended cleanly: %q", pass, got.events)
		}
	}
	for _, tt := range tests {
		up := hi + strings.Replace(chunk, "%s", tt.member, 1) + done
		for _, pass := range []bool{false, true} {
			got := relayWith(t, pass, strings.NewReader(up))
			if got.err != tt.isError {
				t.Errorf("%s, pass-through %v: error %v, want %v; client saw %q", tt.member, pass, got.err, tt.isError, got.events)
			}
			if strings.Contains(strings.Join(got.events, ""), "SECRET") {
				t.Errorf("%s, pass-through %v: the upstream's message reached the client unscrubbed: %q", tt.member, pass, got.events)
			}
		}
	}
}

// flushLog is a ResponseWriter whose client sees only what was flushed.
type flushLog struct {
	http.ResponseWriter
	mu              sync.Mutex
	pending, landed []byte
}

func (f *flushLog) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, p...)
	return len(p), nil
}

func (f *flushLog) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.landed = append(f.landed, f.pending...)
	f.pending = f.pending[:0]
}

func (f *flushLog) seen() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.landed)
}

// gatedReader returns first, then blocks until release, then rest.
type gatedReader struct {
	first, rest string
	release     chan struct{}
	n           int
}

func (g *gatedReader) Read(p []byte) (int, error) {
	switch g.n++; g.n {
	case 1:
		return copy(p, g.first), nil
	case 2:
		<-g.release
		return copy(p, g.rest), nil
	}
	return 0, io.EOF
}

// Every complete event is flushed before the relay waits on the upstream
// again, even when the read that completed it also brought the start of
// the next event (a TCP segment boundary inside an event).
func TestAnthropicEventFlushedBeforeWaiting(t *testing.T) {
	ping := "event: ping\ndata: {\"type\": \"ping\"}\n\n"
	next := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
	g := &gatedReader{first: ping + next[:10], rest: next[10:] + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", release: make(chan struct{})}
	w := &flushLog{ResponseWriter: httptest.NewRecorder()}
	x := &exchange{rt: routeMessages}
	rl := &relayer{x: x, ctx: context.Background(), out: sse.NewWriter(w)}
	done := make(chan error, 1)
	go func() {
		rd := sse.NewReader(g)
		defer rd.Release()
		done <- rl.run(rd)
	}()
	time.Sleep(200 * time.Millisecond) // the upstream pauses mid-event
	seen := w.seen()
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(seen, "event: ping") {
		t.Errorf("after 200ms the client had %q: the complete ping event was held back until the upstream finished the next one", seen)
	}
}

// rawAnthropic is an Anthropic provider "raw" whose upstream answers every
// request with status 200 and the given event stream.
func rawAnthropic(t *testing.T, stream string) envOpt {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, stream)
	}))
	t.Cleanup(srv.Close)
	return withProvider(provider.Config{Name: "raw", Type: provider.TypeAnthropic, BaseURL: srv.URL,
		Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
}

// A mid-stream Anthropic error keeps its class: an overloaded_error stays
// one (Claude Code retries on it), as do rate limits; the provider's own
// credential refused, or anything unknown, is the generic api_error. The
// upstream's message is scrubbed, and the stream never ends cleanly.
func TestAnthropicMidStreamErrorKeepsType(t *testing.T) {
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n" +
		"event: ping\ndata: {\"type\": \"ping\"}\n\n"
	for _, tt := range []struct{ upType, upMsg, wantType, wantMsg string }{
		{"overloaded_error", "Overloaded", "overloaded_error", "Overloaded"},
		{"rate_limit_error", "slow down", "rate_limit_error", "slow down"},
		{"authentication_error", "invalid x-api-key " + upstreamKey, "api_error", "the upstream provider failed mid-stream"},
		{"api_error", "Internal server error", "api_error", "the upstream provider failed mid-stream"},
	} {
		t.Run(tt.upType, func(t *testing.T) {
			errEv := `event: error` + "\ndata: " + `{"type":"error","error":{"type":"` + tt.upType + `","message":"` + tt.upMsg + `"}}` + "\n\n"
			e := newEnv(t, rawAnthropic(t, start+errEv))
			resp, b := e.do(t, http.MethodPost, "/v1/messages", `{"model":"raw/claude-x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
			i := bytes.LastIndex(b, []byte("event: "))
			if resp.StatusCode != http.StatusOK || i < 0 || !bytes.HasPrefix(b[i:], []byte("event: error\n")) {
				t.Fatalf("status %d, body %s; want a stream ending with event: error", resp.StatusCode, b)
			}
			var ev struct {
				Error struct{ Type, Message string } `json:"error"`
			}
			if err := json.Unmarshal(bytes.TrimSpace(bytes.TrimPrefix(b[i:], []byte("event: error\ndata: "))), &ev); err != nil {
				t.Fatalf("%s: %v", b[i:], err)
			}
			if ev.Error.Type != tt.wantType || ev.Error.Message != tt.wantMsg {
				t.Errorf("error event %+v, want type %q message %q", ev.Error, tt.wantType, tt.wantMsg)
			}
		})
	}
}

// rawOpenAI is an OpenAI provider "raw" whose upstream answers every
// request with status 200 and the given event stream.
func rawOpenAI(t *testing.T, stream string) envOpt {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, stream)
	}))
	t.Cleanup(srv.Close)
	return withProvider(provider.Config{Name: "raw", Type: provider.TypeOpenAI, BaseURL: srv.URL + "/v1",
		Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
}

// finalEvent returns the name and data of the last event of an SSE body.
func finalEvent(b []byte) (name string, data []byte) {
	rd := sse.NewReader(bytes.NewReader(b))
	defer rd.Release()
	for {
		ev, err := rd.Next()
		if err != nil {
			return name, data
		}
		name, data = string(ev.Name), append(data[:0], ev.Data...)
	}
}

// A mid-stream OpenAI error chunk keeps its class, wherever its "error"
// member stands, as an Anthropic one does: rate limits, overload and
// request errors reach the client as an error event of that class — in
// the OpenAI dialect as it is relayed (with the upstream's message,
// scrubbed), in the Anthropic dialect through translation — and the
// usage row has the class's status. The provider's own credential
// refused, server errors and anything unknown stay the generic 502.
func TestOpenAIMidStreamErrorKeepsClass(t *testing.T) {
	const (
		hi      = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n"
		generic = "the upstream provider failed mid-stream"
	)
	for _, tt := range []struct {
		name, member string
		status       int
		oaType       string // the OpenAI-dialect client's error type
		oaMsg        string
		anType       string // the Anthropic-dialect (translated) client's
	}{
		{"rate limit", `{"message":"Rate limit reached for ` + upstreamKey + ` on tokens per min","type":"tokens","param":null,"code":"rate_limit_exceeded"}`,
			429, "rate_limit_error", "Rate limit reached for [redacted] on tokens per min", "rate_limit_error"},
		{"overloaded, status as code", `{"code":503,"message":"Provider overloaded"}`,
			529, "api_error", "Provider overloaded", "overloaded_error"},
		{"context length", `{"message":"maximum context length is 8192 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}`,
			400, "invalid_request_error", "maximum context length is 8192 tokens", "invalid_request_error"},
		{"too large", `{"message":"too big","type":"request_too_large","code":null}`,
			413, "invalid_request_error", "too big", "request_too_large"},
		{"provider key refused", `{"message":"Incorrect API key provided: ` + upstreamKey + `","type":"invalid_request_error","param":null,"code":"invalid_api_key"}`,
			502, "api_error", generic, "api_error"},
		{"server error", `{"message":"The server had an error","type":"server_error","param":null,"code":null}`,
			502, "api_error", generic, "api_error"},
		{"bare message", `"Provider disconnected"`, 502, "api_error", generic, "api_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := hi + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"error\":" + tt.member + ",\"choices\":[]}\n\n"
			for _, filtered := range []bool{false, true} {
				opts := []envOpt{rawOpenAI(t, up)}
				if filtered { // the event relay, not the pass-through
					opts = append(opts, func(_ *Config, d *Deps) { d.Hooks.Response = upperHook{} })
				}
				e := newEnv(t, opts...)
				resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"raw/gpt-x","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
				_, data := finalEvent(b)
				var ev struct {
					Error struct{ Type, Message, Code string } `json:"error"`
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &ev) != nil || ev.Error.Type == "" {
					t.Fatalf("filtered %v: status %d, body %s; want a stream ending with an error chunk", filtered, resp.StatusCode, b)
				}
				if ev.Error.Type != tt.oaType || ev.Error.Message != tt.oaMsg || ev.Error.Code != "upstream_stream_failed" {
					t.Errorf("filtered %v: error %+v, want type %q message %q", filtered, ev.Error, tt.oaType, tt.oaMsg)
				}
				if recs := e.usage.all(); len(recs) != 1 || recs[0].Status != tt.status {
					t.Errorf("filtered %v: usage %+v, want one row of status %d", filtered, recs, tt.status)
				}
				if bytes.Contains(b, []byte("SECRET")) {
					t.Errorf("filtered %v: the provider credential reached the client: %s", filtered, b)
				}
			}

			e := newEnv(t, rawOpenAI(t, up))
			resp, b := e.do(t, http.MethodPost, "/v1/messages", `{"model":"raw/gpt-x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
			name, data := finalEvent(b)
			var ev struct {
				Error struct{ Type, Message string } `json:"error"`
			}
			if resp.StatusCode != http.StatusOK || name != "error" || json.Unmarshal(data, &ev) != nil {
				t.Fatalf("translated: status %d, body %s; want a stream ending with event: error", resp.StatusCode, b)
			}
			if ev.Error.Type != tt.anType {
				t.Errorf("translated: error %+v, want type %q", ev.Error, tt.anType)
			}
			if recs := e.usage.all(); len(recs) != 1 || recs[0].Status != tt.status {
				t.Errorf("translated: usage %+v, want one row of status %d", recs, tt.status)
			}
			if bytes.Contains(b, []byte("SECRET")) {
				t.Errorf("translated: the provider credential reached the client: %s", b)
			}
		})
	}
}
