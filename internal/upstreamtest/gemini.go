package upstreamtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/jsonscan"
)

// geminiPrefix is where the Gemini API lives: /v1beta/models/{model}:{method}.
const geminiPrefix = "/v1beta/models/"

// GeminiText is the fixed reply of the Gemini "text" behaviour.
const GeminiText = "Hello from the fake Gemini upstream."

// serveGemini answers as the Gemini API does, chosen by the model name
// like the mock's: echo (default), text, tools (calls the first declared
// function with {"location":"Paris"}, then answers with the result once a
// functionResponse is in the conversation), error-NNN; countTokens for any
// model (geminiCount). Streams use the SSE
// framing of ?alt=sse with CRLF line ends, as Google's servers send.
func (s *Server) serveGemini(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, geminiPrefix)
	i := strings.LastIndexByte(rest, ':')
	if r.Method != http.MethodPost || i <= 0 {
		geminiError(w, http.StatusNotFound, "method not found")
		return
	}
	model, method := rest[:i], rest[i+1:]
	if code, ok := geminiErrorStatus(model); ok {
		geminiError(w, code, "fake: injected error "+strconv.Itoa(code))
		return
	}
	if method == "countTokens" {
		geminiCount(w, body)
		return
	}
	if !jsonscan.Valid(body) || !gjson.GetBytes(body, "contents").IsArray() {
		geminiError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	}
	parts, finish := geminiReply(model, body)
	in := (len(body) + 3) / 4
	out := 0
	for _, p := range parts {
		b, _ := json.Marshal(p)
		out += (len(b) + 3) / 4
	}
	usage := map[string]any{"promptTokenCount": in, "candidatesTokenCount": out, "totalTokenCount": in + out,
		"promptTokensDetails": []map[string]any{{"modality": "TEXT", "tokenCount": in}}}
	switch method {
	case "generateContent":
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		b, _ := json.Marshal(geminiChunk(model, parts, finish, usage))
		_, _ = w.Write(b)
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			geminiError(w, http.StatusBadRequest, "fake: only alt=sse streams are served")
			return
		}
		s.geminiStream(w, r, model, parts, finish, usage)
	default:
		geminiError(w, http.StatusNotFound, "method not found")
	}
}

// geminiCount answers countTokens as Google does: the request holds
// contents or a generateContentRequest (whose model must be
// "models/{model}"), never both; the count is a quarter of the bytes
// counted, all text.
func geminiCount(w http.ResponseWriter, body []byte) {
	contents, inner := gjson.GetBytes(body, "contents"), gjson.GetBytes(body, "generateContentRequest")
	counted := contents.Raw
	switch {
	case !jsonscan.Valid(body) || contents.Exists() == inner.Exists():
		geminiError(w, http.StatusBadRequest, "Invalid JSON payload received.")
		return
	case inner.Exists():
		if !strings.HasPrefix(inner.Get("model").String(), "models/") {
			geminiError(w, http.StatusBadRequest, "GenerateContentRequest.model: unexpected model name format")
			return
		}
		counted = inner.Raw
	}
	n := (len(counted) + 3) / 4
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	b, _ := json.Marshal(map[string]any{"totalTokens": n, "promptTokensDetails": []map[string]any{{"modality": "TEXT", "tokenCount": n}}})
	_, _ = w.Write(b)
}

// geminiStream sends one chunk per part (text split into a few words each)
// and finishReason with usageMetadata on the last one.
func (s *Server) geminiStream(w http.ResponseWriter, r *http.Request, model string, parts []map[string]any, finish string, usage map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var chunks []map[string]any
	for _, p := range parts {
		t, ok := p["text"].(string)
		if !ok {
			chunks = append(chunks, geminiChunk(model, []map[string]any{p}, "", nil))
			continue
		}
		for _, piece := range splitWords(t) {
			chunks = append(chunks, geminiChunk(model, []map[string]any{{"text": piece}}, "", nil))
		}
	}
	last := geminiChunk(model, []map[string]any{{"text": ""}}, finish, usage)
	chunks = append(chunks, last)
	rc := http.NewResponseController(w)
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		if _, err := io.WriteString(w, "data: "+string(b)+"\r\n\r\n"); err != nil {
			return
		}
		_ = rc.Flush()
		if r.Context().Err() != nil {
			return
		}
	}
}

func geminiChunk(model string, parts []map[string]any, finish string, usage map[string]any) map[string]any {
	cand := map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "index": 0}
	if finish != "" {
		cand["finishReason"] = finish
	}
	c := map[string]any{"candidates": []any{cand}, "modelVersion": model, "responseId": "fakegemini" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)}
	if usage != nil {
		c["usageMetadata"] = usage
	}
	return c
}

// geminiReply decides the answer parts and finish reason.
func geminiReply(model string, body []byte) ([]map[string]any, string) {
	b := model
	if i := strings.LastIndexByte(b, '/'); i >= 0 {
		b = b[i+1:]
	}
	contents := gjson.GetBytes(body, "contents").Array()
	var last gjson.Result
	if n := len(contents); n > 0 {
		last = contents[n-1]
	}
	switch b {
	case "text":
		return []map[string]any{{"text": GeminiText}}, "STOP"
	case "tools":
		if fr := last.Get(`parts.#(functionResponse).functionResponse.response`); fr.Exists() {
			res := fr.Get("output").String()
			if res == "" {
				res = fr.Raw
			}
			return []map[string]any{{"text": "The tool said: " + res}}, "STOP"
		}
		name := gjson.GetBytes(body, "tools.0.functionDeclarations.0.name").String()
		if name == "" {
			name = "get_weather"
		}
		return []map[string]any{{"functionCall": map[string]any{"name": name, "args": map[string]string{"location": "Paris"}}}}, "STOP"
	}
	var texts []string
	for _, p := range last.Get("parts").Array() {
		if t := p.Get("text"); t.Exists() {
			texts = append(texts, t.String())
		}
	}
	return []map[string]any{{"text": strings.Join(texts, " ")}}, "STOP"
}

func splitWords(s string) []string {
	words := strings.SplitAfter(s, " ")
	var out []string
	for i := 0; i < len(words); i += 2 {
		out = append(out, strings.Join(words[i:min(i+2, len(words))], ""))
	}
	return out
}

func geminiErrorStatus(model string) (int, bool) {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	s, ok := strings.CutPrefix(model, "error-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 400 && n <= 599
}

// geminiStatuses are Google's canonical status names by HTTP status.
var geminiStatuses = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

// geminiError writes Google's error body.
func geminiError(w http.ResponseWriter, code int, msg string) {
	st := geminiStatuses[code]
	if st == "" {
		st = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": st}})
	_, _ = w.Write(b)
}
