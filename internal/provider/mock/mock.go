// Package mock is a deterministic LLM upstream that speaks the OpenAI and
// Anthropic wire formats byte-for-byte. It backs the "mock" provider type
// (served in-process by Transport, for tests and demos) and the fake
// upstream server in internal/upstreamtest.
//
// Behaviour is chosen by the model name (the part after "mock/"):
//
//	echo            replies with the last user message's text (also the default)
//	text            replies with a fixed sentence (Text)
//	tools           calls the first tool offered (or get_weather) with {"location":"Paris"};
//	                once the conversation holds a tool result it answers with text
//	error-NNN       fails with HTTP status NNN (429 carries retry-after: 1)
//	slow            waits 200ms before the first byte and 20ms between stream events
//	cut             streams a few events, then breaks the connection mid-stream
//	embed           any model on /v1/embeddings returns a deterministic vector
//
// Streaming follows the "stream" field of the request; usage is reported
// as the vendors do (include_usage chunk, message_start/message_delta).
package mock

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/jsonscan"
	"github.com/bulwarkhq/bulwark/internal/sse"
)

// Text is the fixed reply of the "text" behaviour.
const Text = "Hello from the Bulwark mock provider."

// Models are the model names the mock lists on /v1/models.
var Models = []string{"echo", "text", "tools", "slow", "cut", "error-429", "error-500", "embed"}

// ErrCut is the error a "cut" stream breaks with (through Transport).
var ErrCut = errors.New("mock: stream cut by the upstream")

// Handler serves the mock API on /v1/chat/completions, /v1/embeddings,
// /v1/models, /v1/messages and /v1/messages/count_tokens. It is stateless
// and safe for concurrent use.
type Handler struct {
	// Delay, when set, replaces the "slow" behaviour's first-byte delay.
	Delay time.Duration
}

// ServeHTTP implements http.Handler.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodGet && path == "/v1/models" {
		h.models(w, r)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil || !jsonscan.Valid(body) {
		writeError(w, r, http.StatusBadRequest, "invalid JSON body")
		return
	}
	c := call{body: body, model: gjson.GetBytes(body, "model").String(), stream: gjson.GetBytes(body, "stream").Bool()}
	if dep, rest, ok := azurePath(path); ok {
		// Azure OpenAI: the deployment in the path is the model, and the
		// rest of the API is OpenAI's.
		path, c.model = "/v1"+rest, dep
	}
	c.behaviour = behaviour(c.model)
	if code, ok := errorStatus(c.behaviour); ok {
		writeError(w, r, code, "mock: injected error "+strconv.Itoa(code))
		return
	}
	if c.behaviour == "slow" && !sleep(r.Context(), h.delay()) {
		return
	}
	switch path {
	case "/v1/chat/completions":
		h.chat(w, r, c)
	case "/v1/embeddings":
		embeddings(w, c)
	case "/v1/messages":
		h.messages(w, r, c)
	case "/v1/messages/count_tokens":
		writeJSON(w, map[string]int64{"input_tokens": estimate(len(body))})
	default:
		writeError(w, r, http.StatusNotFound, "unknown path")
	}
}

// azurePath splits an Azure OpenAI path, /openai/deployments/{d}/{rest}.
func azurePath(path string) (deployment, rest string, ok bool) {
	tail, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return "", "", false
	}
	deployment, rest, ok = strings.Cut(tail, "/")
	return deployment, "/" + rest, ok && deployment != ""
}

func (h Handler) delay() time.Duration {
	if h.Delay > 0 {
		return h.Delay
	}
	return 200 * time.Millisecond
}

type call struct {
	body      []byte
	model     string
	behaviour string
	stream    bool
}

func behaviour(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	return model
}

func errorStatus(b string) (int, bool) {
	s, ok := strings.CutPrefix(b, "error-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 400 || n > 599 {
		return 0, false
	}
	return n, true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// estimate is the mock's token count: the same 4-bytes rule as usage.
func estimate(n int) int64 { return int64((n + 3) / 4) }

// reply decides the assistant's answer: text, or a tool call.
type reply struct {
	text     string
	toolName string
	toolArgs string
}

func (c call) reply(anthropicDialect bool) reply {
	switch c.behaviour {
	case "text", "slow", "cut":
		return reply{text: Text}
	case "tools":
		if res, ok := toolResult(c.body, anthropicDialect); ok {
			return reply{text: "The tool said: " + res}
		}
		name := gjson.GetBytes(c.body, "tools.0.function.name").String()
		if anthropicDialect {
			name = gjson.GetBytes(c.body, "tools.0.name").String()
		}
		if name == "" {
			name = "get_weather"
		}
		return reply{toolName: name, toolArgs: `{"location":"Paris"}`}
	}
	return reply{text: lastUserText(c.body)}
}

func lastUserText(body []byte) string {
	msgs := gjson.GetBytes(body, "messages").Array()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Get("role").String() != "user" {
			continue
		}
		content := msgs[i].Get("content")
		if content.Type == gjson.String {
			return content.String()
		}
		var parts []string
		for _, p := range content.Array() {
			if p.Get("type").String() == "text" {
				parts = append(parts, p.Get("text").String())
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

func toolResult(body []byte, anthropicDialect bool) (string, bool) {
	msgs := gjson.GetBytes(body, "messages").Array()
	if len(msgs) == 0 {
		return "", false
	}
	last := msgs[len(msgs)-1]
	if !anthropicDialect {
		if last.Get("role").String() == "tool" {
			return last.Get("content").String(), true
		}
		return "", false
	}
	for _, p := range last.Get("content").Array() {
		if p.Get("type").String() == "tool_result" {
			c := p.Get("content")
			if c.IsArray() {
				return c.Get("0.text").String(), true
			}
			return c.String(), true
		}
	}
	return "", false
}

// chunks splits text into stream deltas of a few words.
func chunks(s string) []string {
	words := strings.SplitAfter(s, " ")
	var out []string
	for i := 0; i < len(words); i += 2 {
		out = append(out, strings.Join(words[i:min(i+2, len(words))], ""))
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the dialect the path belongs to, as the vendors do.
func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if strings.HasPrefix(r.URL.Path, "/v1/messages") {
		typ := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}[code]
		if typ == "" {
			typ = "api_error"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "mock_error", "param": nil, "code": strconv.Itoa(code)}})
}

func embeddings(w http.ResponseWriter, c call) {
	in := gjson.GetBytes(c.body, "input")
	inputs := []string{in.String()}
	if in.IsArray() {
		inputs = inputs[:0]
		for _, v := range in.Array() {
			inputs = append(inputs, v.Raw)
		}
	}
	b64 := gjson.GetBytes(c.body, "encoding_format").String() == "base64"
	data := make([]map[string]any, len(inputs))
	for i, s := range inputs {
		vec := vector(s, 8)
		var emb any = vec
		if b64 {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	n := estimate(len(in.Raw))
	writeJSON(w, map[string]any{"object": "list", "data": data, "model": c.model,
		"usage": map[string]int64{"prompt_tokens": n, "total_tokens": n}})
}

// vector derives a deterministic unit-free vector from s.
func vector(s string, dim int) []float32 {
	sum := sha256.Sum256([]byte(s))
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(int8(sum[i]))/128 + 0 //nolint:gosec // G115: the byte read as signed, on purpose, for values in [-1, 1)
	}
	return v
}

func (h Handler) models(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Anthropic-Version") != "" {
		data := make([]map[string]any, len(Models))
		for i, m := range Models {
			data[i] = map[string]any{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
		}
		writeJSON(w, map[string]any{"data": data, "has_more": false, "first_id": Models[0], "last_id": Models[len(Models)-1]})
		return
	}
	data := make([]map[string]any, len(Models))
	for i, m := range Models {
		data[i] = map[string]any{"id": m, "object": "model", "created": 1700000000, "owned_by": "mock"}
	}
	writeJSON(w, map[string]any{"object": "list", "data": data})
}

// streamWriter writes SSE events, pacing them for "slow" and breaking the
// stream for "cut".
type streamWriter struct {
	w      *sse.Writer
	ctx    context.Context
	pace   time.Duration
	cutAt  int
	events int
}

var errCut = errors.New("cut")

func newStream(w http.ResponseWriter, r *http.Request, c call) *streamWriter {
	sse.SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	s := &streamWriter{w: sse.NewWriter(w), ctx: r.Context(), cutAt: -1}
	switch c.behaviour {
	case "slow":
		s.pace = 20 * time.Millisecond
	case "cut":
		s.cutAt = 3
	}
	return s
}

func (s *streamWriter) event(name string, v any) error {
	if s.cutAt >= 0 && s.events >= s.cutAt {
		return errCut
	}
	if s.events > 0 && s.pace > 0 && !sleep(s.ctx, s.pace) {
		return s.ctx.Err()
	}
	s.events++
	b, _ := json.Marshal(v)
	return s.w.Event([]byte(name), b)
}

// abort breaks the connection the way a failing upstream does.
func abort(w http.ResponseWriter) {
	if f, ok := w.(interface{ Abort(error) }); ok {
		f.Abort(ErrCut)
		return
	}
	panic(http.ErrAbortHandler)
}
