package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// TestGeminiIdempotency: an Idempotency-Key on a Gemini call replays the
// first answer for the same body (marked, free, the upstream not called
// again) and refuses another body, for direct and routed models, streamed
// in either framing or not.
func TestGeminiIdempotency(t *testing.T) {
	e, gem := geminiEnv(t)
	body := `{"contents":[{"role":"user","parts":[{"text":"same words"}]}]}`
	other := `{"contents":[{"role":"user","parts":[{"text":"other words"}]}]}`
	tests := []struct {
		name, path string
		up         *upstreamtest.Server
	}{
		{"direct", "/v1beta/models/flash:generateContent", gem},
		{"direct array stream", "/v1beta/models/flash:streamGenerateContent", gem},
		{"direct sse stream", "/v1beta/models/flash:streamGenerateContent?alt=sse", gem},
		{"translated to openai", "/v1beta/models/fast:generateContent", e.openai},
		{"routed", "/v1beta/models/groute:generateContent", gem},
		{"routed array stream", "/v1beta/models/groute:streamGenerateContent", gem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Idempotency-Key": "key-" + strings.ReplaceAll(tt.name, " ", "-")}
			resp, first := e.do(t, http.MethodPost, tt.path, body, hdr)
			if resp.StatusCode != 200 || resp.Header.Get(HeaderReplayed) != "" {
				t.Fatalf("first call: status %d replayed %q: %s", resp.StatusCode, resp.Header.Get(HeaderReplayed), first)
			}
			calls, recs, ctype := len(tt.up.Requests()), len(e.usage.all()), resp.Header.Get("Content-Type")
			resp, again := e.do(t, http.MethodPost, tt.path, body, hdr)
			if got := resp.Header.Get("Content-Type"); got != ctype {
				t.Errorf("replayed Content-Type %q, first %q", got, ctype)
			}
			if resp.StatusCode != 200 || resp.Header.Get(HeaderReplayed) != "true" || string(again) != string(first) {
				t.Errorf("repeat: status %d replayed %q, same body %v", resp.StatusCode, resp.Header.Get(HeaderReplayed), string(again) == string(first))
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("replay without a request id")
			}
			resp, conflict := e.do(t, http.MethodPost, tt.path, other, hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity || gjson.GetBytes(conflict, "error.code").Int() != 422 {
				t.Errorf("other body: status %d: %s", resp.StatusCode, conflict)
			}
			if n := len(tt.up.Requests()); n != calls {
				t.Errorf("upstream called %d more times", n-calls)
			}
			if n := len(e.usage.all()); n != recs {
				t.Errorf("%d usage records for replays and refusals, want none", n-recs)
			}
		})
	}
}

// TestGeminiIdempotencyKeepsNoFailedStream: a stream that ended with an
// error element is not stored, so a retry with the same key runs again
// instead of replaying the failure as if it were the answer.
func TestGeminiIdempotencyKeepsNoFailedStream(t *testing.T) {
	e, gem := geminiEnv(t)
	body := `{"contents":[{"role":"user","parts":[{"text":"a b c d e f g h i j k l m n o p"}]}]}`
	hdr := map[string]string{"Idempotency-Key": "cut-once"}
	gem.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
	_, cut := e.do(t, http.MethodPost, "/v1beta/models/flash:streamGenerateContent", body, hdr)
	if last := arrayElems(t, cut); !gjson.GetBytes(last[len(last)-1], "error").Exists() {
		t.Fatalf("the cut stream did not end with an error: %s", cut)
	}
	resp, b := e.do(t, http.MethodPost, "/v1beta/models/flash:streamGenerateContent", body, hdr)
	if resp.Header.Get(HeaderReplayed) != "" || len(gem.Requests()) != 2 {
		t.Fatalf("the failed stream was replayed (upstream calls %d)", len(gem.Requests()))
	}
	if elems := arrayElems(t, b); gjson.GetBytes(elems[len(elems)-1], "candidates.0.finishReason").String() != "STOP" {
		t.Errorf("retry did not complete: %s", b)
	}
}

// TestGeminiCountTokensBypassesIdempotency: a count under a key does not
// claim it, so the same key then serves a generation.
func TestGeminiCountTokensBypassesIdempotency(t *testing.T) {
	e, gem := geminiEnv(t)
	hdr := map[string]string{"Idempotency-Key": "shared"}
	for range 2 {
		if resp, b := e.do(t, http.MethodPost, "/v1beta/models/flash:countTokens", countContents, hdr); resp.StatusCode != 200 || resp.Header.Get(HeaderReplayed) != "" {
			t.Fatalf("count: status %d replayed %q: %s", resp.StatusCode, resp.Header.Get(HeaderReplayed), b)
		}
	}
	if resp, b := e.do(t, http.MethodPost, "/v1beta/models/flash:generateContent", countContents, hdr); resp.StatusCode != 200 || resp.Header.Get(HeaderReplayed) != "" {
		t.Fatalf("generate after counts: status %d: %s", resp.StatusCode, b)
	}
	if n := len(gem.Requests()); n != 3 {
		t.Errorf("upstream calls %d, want 3", n)
	}
}

// An Idempotency-Key stands for the whole request, not its body: Gemini
// names the model and the streaming method in the URL, and the same body
// goes to both LLM dialects. The same key and body with another path,
// query or Anthropic version is a 422 conflict — it used to replay the
// first answer: another model's (one this key may not use), JSON for a
// stream, an OpenAI completion on /v1/messages.
func TestIdempotencyKeyBindsTheRequestNotOnlyTheBody(t *testing.T) {
	e, _ := geminiEnv(t)
	gbody := `{"contents":[{"role":"user","parts":[{"text":"same words"}]}]}`
	obody := `{"model":"mock/echo","max_tokens":5,"messages":[{"role":"user","content":"same words"}]}`
	newer := map[string]string{"Anthropic-Version": "2026-10-21"}
	tests := []struct {
		name, first, second, body string
		firstHdr, secondHdr       map[string]string
		models                    []string // the key's allowed models
	}{
		{"gemini other model", "/v1beta/models/flash:generateContent", "/v1beta/models/fast:generateContent", gbody, nil, nil, nil},
		{"gemini model the key may not use", "/v1beta/models/flash:generateContent", "/v1beta/models/smart:generateContent", gbody, nil, nil, []string{"flash"}},
		{"gemini stream after non-stream", "/v1beta/models/flash:generateContent", "/v1beta/models/flash:streamGenerateContent?alt=sse", gbody, nil, nil, nil},
		{"openai then anthropic route", "/v1/chat/completions", "/v1/messages", obody, nil, anthHdr, nil},
		{"anthropic version changed", "/v1/messages", "/v1/messages", obody, anthHdr, newer, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := map[string]string{"Idempotency-Key": "k-" + strings.ReplaceAll(tt.name, " ", "-")}
			with := func(h map[string]string) map[string]string {
				out := map[string]string{}
				for _, m := range []map[string]string{key, h} {
					for k, v := range m {
						out[k] = v
					}
				}
				return out
			}
			e.identity.Models = tt.models
			resp, first := e.do(t, http.MethodPost, tt.first, tt.body, with(tt.firstHdr))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("first: %d %s", resp.StatusCode, first)
			}
			resp, second := e.do(t, http.MethodPost, tt.second, tt.body, with(tt.secondHdr))
			if resp.Header.Get(HeaderReplayed) == "true" || resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%s answered %d (replayed %q): %s; want 422 idempotency_key_reused", tt.second, resp.StatusCode, resp.Header.Get(HeaderReplayed), second)
			}
			// The same request again is still the replay it should be.
			resp, again := e.do(t, http.MethodPost, tt.first, tt.body, with(tt.firstHdr))
			if resp.Header.Get(HeaderReplayed) != "true" || string(again) != string(first) {
				t.Errorf("repeat of the first request: %d replayed %q", resp.StatusCode, resp.Header.Get(HeaderReplayed))
			}
		})
	}
}
