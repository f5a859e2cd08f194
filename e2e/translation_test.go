package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	anthropic1 "github.com/anthropics/anthropic-sdk-go"
	option1 "github.com/anthropics/anthropic-sdk-go/option"
	anthropic2 "github.com/anthropics/anthropic-sdk-go/v2"
	option2 "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/genai"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// newTranslationStack runs the real binary with OpenAI, Anthropic and
// Gemini fake upstreams and aliases that cross dialects.
func newTranslationStack(t *testing.T) (*stack, *upstreamtest.Server) {
	t.Helper()
	s := &stack{openai: upstreamtest.New(), anth: upstreamtest.New(), mode: "binary"}
	gem := upstreamtest.New()
	for _, c := range []func(){s.openai.Close, s.anth.Close, gem.Close} {
		t.Cleanup(c)
	}
	bin, err := buildBulwark(t)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bulwark.yaml")
	cfg := fmt.Sprintf(`providers:
  - {name: openai, type: openai, base_url: %s/v1, api_key_env: FAKE_KEY}
  - {name: anthropic, type: anthropic, base_url: %s, api_key_env: FAKE_KEY}
  - {name: gemini, type: gemini, base_url: %s, api_key_env: FAKE_KEY}
models:
  fast: openai/gpt-4o-mini
  otools: openai/tools
  smart: anthropic/claude-sonnet-4-5
  atools: anthropic/tools
  flash: gemini/gemini-2.5-flash
  gtools: gemini/tools
`, s.openai.URL, s.anth.URL, gem.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	env := append(os.Environ(), "BULWARK_DATA_DIR="+filepath.Join(dir, "data"), "BULWARK_LISTEN="+addr,
		"BULWARK_CONFIG="+cfgPath, "FAKE_KEY="+upstreamKey)
	run := cliRunner(t, bin, env)
	run("init")
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(run("keys", "create", "--name", "e2e", "--scopes", "llm", "--json"), &created); err != nil || created.Key == "" {
		t.Fatal("keys create: no key")
	}
	s.key = created.Key
	base, logs, err := serveBinary(t, bin, env, addr)
	if err != nil {
		t.Fatal(err)
	}
	s.base, s.logs = base, logs.String
	t.Cleanup(func() { assertNoCredential(t, "bulwark's log", []byte(logs.String())) })
	return s, gem
}

func TestTranslationAnthropicSDKsToOpenAI(t *testing.T) {
	s, _ := newTranslationStack(t)
	ctx := context.Background()
	t.Run("v1", func(t *testing.T) {
		c := anthropic1.NewClient(option1.WithBaseURL(s.base), option1.WithAPIKey(s.key), option1.WithRequestTimeout(20*time.Second))
		user := []anthropic1.MessageParam{anthropic1.NewUserMessage(anthropic1.NewTextBlock("hello from claude sdk"))}
		msg, err := c.Messages.New(ctx, anthropic1.MessageNewParams{Model: "fast", MaxTokens: 64, Messages: user})
		if err != nil || msg.Content[0].Text != "hello from claude sdk" || msg.Usage.InputTokens == 0 {
			t.Fatalf("non-stream: %v %+v", err, msg)
		}
		st := c.Messages.NewStreaming(ctx, anthropic1.MessageNewParams{Model: "fast", MaxTokens: 64, Messages: user})
		var acc anthropic1.Message
		for st.Next() {
			if err := acc.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil || acc.Content[0].Text != "hello from claude sdk" || acc.StopReason != "end_turn" {
			t.Fatalf("stream: %v %+v", err, acc)
		}
		tools := []anthropic1.ToolUnionParam{{OfTool: &anthropic1.ToolParam{Name: "get_weather",
			InputSchema: anthropic1.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]string{"type": "string"}}}}}}
		params := anthropic1.MessageNewParams{Model: "otools", MaxTokens: 64, Tools: tools, Messages: user}
		msg, err = c.Messages.New(ctx, params)
		if err != nil || msg.StopReason != "tool_use" {
			t.Fatalf("tool call: %v %+v", err, msg)
		}
		tu := msg.Content[0].AsToolUse()
		params.Messages = append(params.Messages, msg.ToParam(), anthropic1.NewUserMessage(anthropic1.NewToolResultBlock(tu.ID, "18C and sunny", false)))
		msg, err = c.Messages.New(ctx, params)
		if err != nil || !strings.Contains(msg.Content[0].Text, "18C and sunny") {
			t.Fatalf("tool round trip: %v %+v", err, msg)
		}
		if got := s.openai.Last().Header.Get("Authorization"); got != "Bearer "+upstreamKey {
			t.Errorf("openai upstream auth = %q", got)
		}
	})
	t.Run("v2", func(t *testing.T) {
		c := anthropic2.NewClient(option2.WithBaseURL(s.base), option2.WithAPIKey(s.key), option2.WithRequestTimeout(20*time.Second))
		user := []anthropic2.MessageParam{anthropic2.NewUserMessage(anthropic2.NewTextBlock("hello v2"))}
		msg, err := c.Messages.New(ctx, anthropic2.MessageNewParams{Model: "fast", MaxTokens: 64, Messages: user})
		if err != nil || msg.Content[0].Text != "hello v2" {
			t.Fatalf("non-stream: %v %+v", err, msg)
		}
		tools := []anthropic2.ToolUnionParam{{OfTool: &anthropic2.ToolParam{Name: "get_weather",
			InputSchema: anthropic2.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]string{"type": "string"}}}}}}
		params := anthropic2.MessageNewParams{Model: "otools", MaxTokens: 64, Tools: tools, Messages: user}
		st := c.Messages.NewStreaming(ctx, params)
		var acc anthropic2.Message
		sawDelta := false
		for st.Next() {
			ev := st.Current()
			sawDelta = sawDelta || ev.Delta.Type == "input_json_delta"
			if err := acc.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		tu := acc.Content[0].AsToolUse()
		if !sawDelta || tu.Name != "get_weather" || !strings.Contains(string(tu.Input), "Paris") {
			t.Fatalf("streamed tool use %+v (input_json_delta seen: %v)", acc.Content, sawDelta)
		}
		params.Messages = append(params.Messages, acc.ToParam(), anthropic2.NewUserMessage(anthropic2.NewToolResultBlock(tu.ID, "18C and sunny", false)))
		msg, err = c.Messages.New(ctx, params)
		if err != nil || !strings.Contains(msg.Content[0].Text, "18C and sunny") {
			t.Fatalf("tool round trip: %v %+v", err, msg)
		}
	})
}

func TestTranslationOpenAISDKToAnthropic(t *testing.T) {
	s, _ := newTranslationStack(t)
	c := openaiClient(s)
	ctx := context.Background()
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello claude from openai")}
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "smart", Messages: msgs})
	if err != nil || res.Choices[0].Message.Content != "hello claude from openai" || res.Usage.PromptTokens == 0 {
		t.Fatalf("non-stream: %v %+v", err, res)
	}
	if h := s.anth.Last().Header; h.Get("X-Api-Key") != upstreamKey || h.Get("Authorization") != "" {
		t.Errorf("anthropic upstream headers %v", h)
	}
	st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "smart", Messages: msgs})
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil || acc.Choices[0].Message.Content != "hello claude from openai" {
		t.Fatalf("stream: %v %+v", err, acc.Choices)
	}
	weather := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]string{"type": "string"}}}})
	params := openai.ChatCompletionNewParams{Model: "atools", Tools: []openai.ChatCompletionToolUnionParam{weather}, Messages: msgs}
	res, err = c.Chat.Completions.New(ctx, params)
	if err != nil || len(res.Choices[0].Message.ToolCalls) != 1 || res.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool call: %v %+v", err, res)
	}
	call := res.Choices[0].Message.ToolCalls[0]
	if call.Function.Name != "get_weather" || call.Function.Arguments != `{"location":"Paris"}` {
		t.Errorf("tool call %+v", call)
	}
	params.Messages = append(params.Messages, res.Choices[0].Message.ToParam(), openai.ToolMessage("18C and sunny", call.ID))
	res, err = c.Chat.Completions.New(ctx, params)
	if err != nil || !strings.Contains(res.Choices[0].Message.Content, "18C and sunny") {
		t.Fatalf("tool round trip: %v %+v", err, res)
	}
}

func TestTranslationGenAISDK(t *testing.T) {
	s, gem := newTranslationStack(t)
	ctx := context.Background()
	c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: s.key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	weather := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{Name: "get_weather",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"location": {Type: genai.TypeString}}}}}}}}
	for _, tt := range []struct{ name, model, tools string }{{"to openai", "fast", "otools"}, {"to gemini", "flash", "gtools"}} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Models.GenerateContent(ctx, tt.model, genai.Text("hello gemini sdk"), nil)
			if err != nil || res.Text() != "hello gemini sdk" || res.UsageMetadata == nil || res.UsageMetadata.PromptTokenCount == 0 {
				t.Fatalf("non-stream: %v %+v", err, res)
			}
			var got strings.Builder
			for chunk, err := range c.Models.GenerateContentStream(ctx, tt.model, genai.Text("one two three four"), nil) {
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				got.WriteString(chunk.Text())
			}
			if got.String() != "one two three four" {
				t.Errorf("streamed %q", got.String())
			}
			contents := genai.Text("weather in Paris?")
			res, err = c.Models.GenerateContent(ctx, tt.tools, contents, weather)
			if err != nil || len(res.FunctionCalls()) != 1 {
				t.Fatalf("tool call: %v %+v", err, res)
			}
			fc := res.FunctionCalls()[0]
			if fc.Name != "get_weather" || fc.Args["location"] != "Paris" {
				t.Errorf("function call %+v", fc)
			}
			fr := &genai.FunctionResponse{ID: fc.ID, Name: fc.Name, Response: map[string]any{"output": "18C and sunny"}}
			contents = append(contents, res.Candidates[0].Content, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{{FunctionResponse: fr}}})
			res, err = c.Models.GenerateContent(ctx, tt.tools, contents, weather)
			if err != nil || !strings.Contains(res.Text(), "18C and sunny") {
				t.Fatalf("tool round trip: %v %+v", err, res)
			}
		})
	}
	if h := gem.Last().Header; h.Get("X-Goog-Api-Key") != upstreamKey || strings.Contains(gem.Last().RawQuery, "key=") {
		t.Errorf("gemini upstream auth: %v %s", h, gem.Last().RawQuery)
	}
}

// TestTranslationClaudeCodeToOpenAI sends what Claude Code sends (system
// entries, thinking, cache_control, 20 tools, betas) to an OpenAI upstream.
func TestTranslationClaudeCodeToOpenAI(t *testing.T) {
	s, _ := newTranslationStack(t)
	var tools []map[string]any
	for i := range 20 {
		tools = append(tools, map[string]any{"name": fmt.Sprintf("Tool%d", i), "description": "a tool",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"path": map[string]string{"type": "string"}}}})
	}
	tools[19]["cache_control"] = map[string]string{"type": "ephemeral"}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"model": "fast", "max_tokens": 32000, "stream": stream,
				"system": []map[string]any{{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
					{"type": "text", "text": "Environment: linux", "cache_control": map[string]string{"type": "ephemeral"}}},
				"thinking": map[string]any{"type": "enabled", "budget_tokens": 4096}, "tools": tools,
				"metadata": map[string]string{"user_id": "user_abc"},
				"messages": []map[string]any{
					{"role": "system", "content": "Remember the repo layout."},
					{"role": "user", "content": []map[string]any{{"type": "text", "text": "list files", "cache_control": map[string]string{"type": "ephemeral"}}}}}})
			req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/messages?beta=true", strings.NewReader(string(body)))
			req.Header.Set("X-Api-Key", s.key)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			req.Header.Set("Anthropic-Beta", "claude-code-20250219,interleaved-thinking-2025-05-14")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.Contains(string(b), `"error"`) {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			dropped := resp.Header.Get("X-Bulwark-Dropped")
			for _, f := range []string{"cache_control", "thinking"} {
				if !strings.Contains(dropped, f) {
					t.Errorf("x-bulwark-dropped = %q lacks %s", dropped, f)
				}
			}
			up := s.openai.Last()
			var sent struct {
				Messages []struct{ Role string } `json:"messages"`
				Tools    []any                   `json:"tools"`
			}
			if err := json.Unmarshal(up.Body, &sent); err != nil || len(sent.Tools) != 20 || sent.Messages[0].Role != "system" {
				t.Errorf("openai upstream got %d tools, messages %+v (%v)", len(sent.Tools), sent.Messages, err)
			}
			if strings.Contains(string(up.Body), "cache_control") || up.Header.Get("Anthropic-Beta") != "" {
				t.Error("anthropic-only fields reached the openai upstream")
			}
			req.Header.Set("X-Bulwark-Strict", "true")
			req.Body = io.NopCloser(strings.NewReader(string(body)))
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(b), "feature cache_control") {
				t.Errorf("strict: status %d %s", resp.StatusCode, b)
			}
		})
	}
}
