package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// TestGeminiAPI drives the Gemini surface of the real binary: countTokens,
// Idempotency-Key and generation with the official google.golang.org/genai
// SDK, and the JSON-array stream (which the SDK does not use: it always
// asks for alt=sse) as Google's REST clients read it. One binary serves
// the three scenarios.
func TestGeminiAPI(t *testing.T) {
	s, gem := newTranslationStack(t)
	ctx := context.Background()
	c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: s.key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("count tokens", func(t *testing.T) { genAICountTokens(ctx, t, s, gem, c) })
	t.Run("idempotency", func(t *testing.T) { genAIIdempotency(ctx, t, gem, c) })
	t.Run("json array stream", func(t *testing.T) { arrayStream(t, s) })
}

// genAICountTokens: a Gemini upstream counts with its own countTokens, an
// Anthropic one with count_tokens on the translated prompt, and an OpenAI
// model (no counting endpoint) is an APIError the SDK raises, not a
// made-up count.
func genAICountTokens(ctx context.Context, t *testing.T, s *stack, gem *upstreamtest.Server, c *genai.Client) {
	tests := []struct {
		name, model    string
		up             *upstreamtest.Server
		upPath, upAuth string
		wantCode       int // an APIError's code; 0 for a count
	}{
		{"gemini upstream", "flash", gem, "/v1beta/models/gemini-2.5-flash:countTokens", "X-Goog-Api-Key", 0},
		{"anthropic upstream", "smart", s.anth, "/v1/messages/count_tokens", "X-Api-Key", 0},
		{"openai upstream cannot count", "fast", nil, "", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Models.CountTokens(ctx, tt.model, genai.Text("how many tokens are in this sentence?"), nil)
			if tt.wantCode != 0 {
				var ae genai.APIError
				if !errors.As(err, &ae) || ae.Code != tt.wantCode || ae.Status != "INVALID_ARGUMENT" {
					t.Fatalf("want APIError %d, got %v %+v", tt.wantCode, err, res)
				}
				return
			}
			if err != nil || res.TotalTokens <= 0 {
				t.Fatalf("count: %v %+v", err, res)
			}
			last := tt.up.Last()
			if last.Path != tt.upPath || last.Header.Get(tt.upAuth) != upstreamKey || strings.Contains(last.RawQuery, "key") {
				t.Errorf("upstream %s?%s auth %q", last.Path, last.RawQuery, last.Header.Get(tt.upAuth))
			}
		})
	}
}

// genAIIdempotency sends GenerateContent and GenerateContentStream twice
// with one Idempotency-Key each: the SDK reads the replay like the first
// answer, and the upstream is called once per key.
func genAIIdempotency(ctx context.Context, t *testing.T, gem *upstreamtest.Server, c *genai.Client) {
	before := len(gem.Requests())
	keyed := func(k string) *genai.GenerateContentConfig {
		return &genai.GenerateContentConfig{HTTPOptions: &genai.HTTPOptions{Headers: http.Header{"Idempotency-Key": {k}}}}
	}
	for range 2 {
		res, err := c.Models.GenerateContent(ctx, "flash", genai.Text("once only"), keyed("e2e-generate"))
		if err != nil || res.Text() != "once only" {
			t.Fatalf("generate: %v %+v", err, res)
		}
		var got strings.Builder
		for chunk, err := range c.Models.GenerateContentStream(ctx, "flash", genai.Text("one stream only"), keyed("e2e-stream")) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			got.WriteString(chunk.Text())
		}
		if got.String() != "one stream only" {
			t.Errorf("streamed %q", got.String())
		}
	}
	if n := len(gem.Requests()) - before; n != 2 {
		t.Errorf("upstream calls %d, want 2 (one per key)", n)
	}
}

// arrayStream reads streamGenerateContent without alt=sse as Google's REST
// clients do: one JSON array whose last element carries the finish reason.
func arrayStream(t *testing.T, s *stack) {
	for _, model := range []string{"flash", "fast", "smart"} {
		t.Run(model, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.base+"/v1beta/models/"+model+":streamGenerateContent",
				strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"alpha beta gamma delta"}]}]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Goog-Api-Key", s.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var elems []struct {
				Candidates []struct {
					Content      genai.Content `json:"content"`
					FinishReason string        `json:"finishReason"`
				} `json:"candidates"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&elems); err != nil || resp.StatusCode != http.StatusOK ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || len(elems) < 2 {
				t.Fatalf("status %d %s, %d elements, %v", resp.StatusCode, resp.Header.Get("Content-Type"), len(elems), err)
			}
			var text strings.Builder
			for _, el := range elems {
				if el.Error != nil {
					t.Fatalf("error element %s", el.Error)
				}
				for _, p := range el.Candidates[0].Content.Parts {
					text.WriteString(p.Text)
				}
			}
			last := elems[len(elems)-1].Candidates[0]
			if strings.TrimSpace(text.String()) != "alpha beta gamma delta" || last.FinishReason != "STOP" {
				t.Errorf("text %q, finish %q", text.String(), last.FinishReason)
			}
		})
	}
}
