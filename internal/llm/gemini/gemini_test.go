package gemini_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

var dialect = llmtest.Dialects[2]

func f64(v float64) *float64 { return &v }

func text(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }

// functionsFixture is a recorded request with parallel function calls and
// a legacy OpenAPI schema.
const functionsFixture = "../testdata/gemini_functions.request.json"

var carried = map[string]llm.Request{
	"plain": {Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("hi")}}}},
	"config": {
		System:    []llm.Block{text("sys")},
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("q"), {Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceBase64, MediaType: "image/jpeg", Data: "/9j/"}}, {Type: llm.BlockDocument, Source: &llm.Source{Kind: llm.SourceURL, MediaType: "application/pdf", URL: "gs://b/a.pdf"}}}}},
		MaxTokens: 50, Temperature: f64(0.1), TopP: f64(0.5), TopK: func() *int { k := 3; return &k }(),
		Seed: func() *int64 { s := int64(4); return &s }(), PresencePenalty: f64(0.5), FrequencyPenalty: f64(0.5), Stop: []string{"x"},
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning:      &llm.Reasoning{Type: "enabled", BudgetTokens: 512},
	},
	"function calling": {
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{text("lights")}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "plan", Signature: "c2ln"}, {Type: llm.BlockToolUse, ID: "call_0", Name: "on", Input: json.RawMessage(`{"room":"k"}`), Signature: "c2ln"}, {Type: llm.BlockToolUse, ID: "call_1", Name: "dim", Input: json.RawMessage(`{}`)}}},
			{Role: llm.RoleTool, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolUseID: "call_0", Name: "on", Content: []llm.Block{text("ok")}},
				{Type: llm.BlockToolResult, ToolUseID: "call_1", Name: "dim", IsError: true, Content: []llm.Block{text("offline")}},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{text("and?")}},
		},
		Tools:      []llm.Tool{{Name: "on", Description: "switch", Schema: json.RawMessage(`{"type":"object"}`)}, {Name: "dim", Schema: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolName, Name: "on"},
	},
	"json object mode, thinking off": {Messages: []llm.Message{}, ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONObject}, Reasoning: &llm.Reasoning{Type: "disabled"}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolNone}},
	"extension":                      {Messages: []llm.Message{}, Extensions: []llm.Extension{{Dialect: "gemini", Key: "safetySettings", Value: json.RawMessage(`[]`)}}},
}

func TestRequestRoundTrip(t *testing.T) { llmtest.RequestRoundTrips(t, dialect, carried) }

func TestFunctionCallingFixture(t *testing.T) {
	req := llmtest.DecodeFile(t, dialect, functionsFixture)
	results := req.Messages[2].Content
	if req.Messages[2].Role != llm.RoleTool || len(results) != 2 || results[0].ToolUseID != "call_0" || results[1].ToolUseID != "call_1" || !results[1].IsError {
		t.Errorf("function responses not matched to calls: %+v", req.Messages[2])
	}
	if got := string(req.Tools[1].Schema); !strings.Contains(got, `"type":"object"`) || strings.Contains(got, "OBJECT") {
		t.Errorf("legacy OpenAPI schema not turned into JSON Schema: %s", got)
	}
	llmtest.RequestRoundTrip(t, dialect, req)
}

func TestMatchByNameWithoutIDs(t *testing.T) {
	body := `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":{}}},{"functionCall":{"name":"a","args":{"n":2}}}]},
	{"role":"user","parts":[{"functionResponse":{"name":"b","response":{"output":"B"}}},{"functionResponse":{"name":"a","response":{"output":"A1"}}},{"functionResponse":{"name":"a","response":{"x":1}}}]}]}`
	req, err := gemini.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range req.Messages[1].Content {
		got = append(got, b.ToolUseID+"="+b.Content[0].Text)
	}
	if want := `call_1=B call_0=A1 call_2={"x":1}`; strings.Join(got, " ") != want {
		t.Errorf("matched %v, want %s", got, want)
	}
}

func TestEncodeRequestDrops(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
		want string
	}{
		{"cache_control", llm.Request{System: []llm.Block{{Type: llm.BlockText, Text: "s", Cache: &llm.CacheControl{Type: "ephemeral"}}}}, "cache_control"},
		{"user", llm.Request{User: "u"}, "user"},
		{"redacted thinking", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockRedactedThinking, Data: "x"}}}}}, "thinking"},
		{"disable parallel", llm.Request{ToolChoice: &llm.ToolChoice{Mode: llm.ToolAuto, DisableParallel: true}}, "disable_parallel_tool_use"},
		{"effort", llm.Request{Reasoning: &llm.Reasoning{Effort: "low"}}, "reasoning_effort"},
		{"tool result image", llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "a", Content: []llm.Block{{Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceBase64}}}}}}}}, "tool_result_image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dropped, err := gemini.EncodeRequest(&tt.req, gemini.Target{})
			if err != nil {
				t.Fatal(err)
			}
			if dropped.Header() != tt.want {
				t.Errorf("dropped %q, want %q", dropped.Header(), tt.want)
			}
		})
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	llmtest.RejectsRequests(t, dialect, map[string]string{
		"not json":                 `{`,
		"empty part":               `{"contents":[{"role":"user","parts":[{}]}]}`,
		"args not object":          `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`,
		"response in model turn":   `{"contents":[{"role":"model","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`,
		"system part without text": `{"systemInstruction":{"parts":[{"inlineData":{"mimeType":"a","data":""}}]},"contents":[]}`,
	})
}

func TestResponseRoundTrip(t *testing.T) {
	llmtest.ResponseRoundTrips(t, dialect, map[string]llm.Response{
		"thoughts and call": {ID: "r1", Model: "gemini-2.5-flash", Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "t"}, text("x"), {Type: llm.BlockToolUse, ID: "call_0", Name: "f", Input: json.RawMessage(`{"a":1}`), Signature: "c2ln"}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30, ReasoningTokens: 20}},
		"max tokens":        {ID: "r2", Model: "g", Content: []llm.Block{text("cut")}, StopReason: llm.StopMaxTokens},
		"safety":            {ID: "r3", Model: "g", Content: []llm.Block{}, StopReason: llm.StopContentFilter},
	})
}

func TestUsageMapping(t *testing.T) {
	resp, err := gemini.DecodeResponse([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":90,"candidatesTokenCount":15,"totalTokenCount":125,"cachedContentTokenCount":30,"thoughtsTokenCount":20}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30, ReasoningTokens: 20}
	if resp.Usage != want {
		t.Errorf("usage %+v, want %+v (output includes thoughts)", resp.Usage, want)
	}
}

func TestPromptBlocked(t *testing.T) {
	resp, err := gemini.DecodeResponse([]byte(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}}`))
	if err != nil || resp.StopReason != llm.StopContentFilter {
		t.Fatalf("resp %+v, err %v: want content_filter", resp, err)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	u := llm.Usage{InputTokens: 90, OutputTokens: 35, CacheReadTokens: 30, ReasoningTokens: 20}
	events := []llm.StreamEvent{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "r1", Model: "gemini-2.5-flash", Content: []llm.Block{}}},
		{Type: llm.EventBlockStart, Index: 0, Block: &llm.Block{Type: llm.BlockThinking}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaThinking, Text: "plan"}},
		{Type: llm.EventBlockStop, Index: 0},
		{Type: llm.EventBlockStart, Index: 1, Block: &llm.Block{Type: llm.BlockText}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: &llm.Delta{Type: llm.DeltaText, Text: "Switch"}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: &llm.Delta{Type: llm.DeltaText, Text: "ing"}},
		{Type: llm.EventBlockStop, Index: 1},
		{Type: llm.EventBlockStart, Index: 2, Block: &llm.Block{Type: llm.BlockToolUse, ID: "call_0", Name: "on", Signature: "c2ln"}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `{"room":"k"}`}},
		{Type: llm.EventBlockStop, Index: 2},
		{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &u},
		{Type: llm.EventDone},
	}
	llmtest.StreamRoundTrip(t, dialect, events)
}

// TestStreamToolArgsFromDeltas checks that streamed argument fragments
// (OpenAI tool_calls deltas, Anthropic input_json_delta) become one whole
// Gemini functionCall when their block stops.
func TestStreamToolArgsFromDeltas(t *testing.T) {
	enc := gemini.NewStreamEncoder()
	var out []byte
	steps := []llm.StreamEvent{
		{Type: llm.EventBlockStart, Index: 0, Block: &llm.Block{Type: llm.BlockToolUse, ID: "call_1", Name: "f"}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `{"city":`}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `"Paris"}`}},
		{Type: llm.EventBlockStop, Index: 0},
	}
	for i, ev := range steps {
		var err error
		if out, err = enc.Encode(out[:0], ev); err != nil {
			t.Fatal(err)
		}
		if i < 3 && len(out) > 0 {
			t.Errorf("step %d wrote %s before the call was complete", i, out)
		}
	}
	if !strings.Contains(string(out), `"functionCall":{"id":"call_1","name":"f","args":{"city":"Paris"}}`) {
		t.Errorf("got %s", out)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	llmtest.FuzzRequests(f, dialect, carried, functionsFixture)
}

func FuzzDecodeResponse(f *testing.F) {
	llmtest.FuzzResponses(f, dialect, "../testdata/gemini.response.json")
}

func FuzzStreamDecoder(f *testing.F) {
	llmtest.FuzzStreams(f, dialect, "../testdata/gemini.stream.sse", "../testdata/gemini_truncated.stream.sse")
}
