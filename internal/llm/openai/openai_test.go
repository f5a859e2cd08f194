package openai_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
)

var dialect = llmtest.Dialects[0]

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

func text(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }

// carried lists requests whose every feature OpenAI can carry.
var carried = map[string]llm.Request{
	"plain chat": {Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("hi")}}}},
	"system and sampling": {
		Model: "gpt-4o", System: []llm.Block{text("be brief"), text("be kind")},
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("hi")}}},
		MaxTokens: 100, Temperature: f64(0.5), TopP: f64(0.9), Seed: i64(7), PresencePenalty: f64(0.1),
		FrequencyPenalty: f64(0.2), Stop: []string{"END", "STOP"}, User: "u1", Metadata: map[string]string{"team": "a"},
		Stream: true, IncludeUsage: true, Reasoning: &llm.Reasoning{Effort: "low"},
	},
	"images and files": {Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
		text("look"),
		{Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceBase64, MediaType: "image/png", Data: "iVBO"}},
		{Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceURL, URL: "https://example.com/a.png"}},
		{Type: llm.BlockDocument, Title: "a.pdf", Source: &llm.Source{Kind: llm.SourceBase64, MediaType: "application/pdf", Data: "JVBE"}},
	}}}},
	"tool round trip": {
		Model: "gpt-4o",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{text("weather?")}},
			{Role: llm.RoleAssistant, Content: []llm.Block{text("checking"), {Type: llm.BlockToolUse, ID: "call_1", Name: "get", Input: json.RawMessage(`{"city":"Paris"}`)}, {Type: llm.BlockToolUse, ID: "call_2", Name: "get", Input: json.RawMessage(`{}`)}}},
			{Role: llm.RoleTool, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "call_1", Content: []llm.Block{text("sunny")}}, {Type: llm.BlockToolResult, ToolUseID: "call_2", Content: []llm.Block{text("a"), text("b")}}}},
			{Role: llm.RoleUser, Content: []llm.Block{text("thanks")}},
		},
		Tools:          []llm.Tool{{Name: "get", Description: "weather", Schema: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice:     &llm.ToolChoice{Mode: llm.ToolName, Name: "get", DisableParallel: true},
		ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Name: "w", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
	},
	"tool choice required": {Model: "m", Messages: []llm.Message{}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolAny}, ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONObject}},
	"extension":            {Model: "m", Messages: []llm.Message{}, Extensions: []llm.Extension{{Dialect: "openai", Key: "service_tier", Value: json.RawMessage(`"flex"`)}}},
}

func TestRequestRoundTrip(t *testing.T) { llmtest.RequestRoundTrips(t, dialect, carried) }

func TestFixtureRoundTrip(t *testing.T) {
	llmtest.RequestRoundTrip(t, dialect, llmtest.DecodeFile(t, dialect, "../testdata/openai_tools.request.json"))
}

func TestEncodeRequestDrops(t *testing.T) {
	k := 5
	tests := []struct {
		name string
		req  llm.Request
		want []string
	}{
		{"top_k", llm.Request{TopK: &k}, []string{llm.FeatureTopK}},
		{"cache_control on system", llm.Request{System: []llm.Block{{Type: llm.BlockText, Text: "s", Cache: &llm.CacheControl{Type: "ephemeral"}}}}, []string{llm.FeatureCacheControl}},
		{"thinking config", llm.Request{Reasoning: &llm.Reasoning{Type: "enabled", BudgetTokens: 1024}}, []string{llm.FeatureThinking}},
		{"thinking block", llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "t", Signature: "s"}, text("x")}}}}, []string{llm.FeatureThinking}},
		{"tool error flag", llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "a", IsError: true}}}}}, []string{openai.FeatureToolResultError}},
		{"foreign extension", llm.Request{Extensions: []llm.Extension{{Dialect: "anthropic", Key: "context_management", Value: json.RawMessage(`{}`)}}}, []string{"context_management"}},
		{"url document", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("a"), {Type: llm.BlockDocument, Source: &llm.Source{Kind: llm.SourceURL, URL: "https://x/a.pdf"}}}}}}, []string{llm.FeatureDocument}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, dropped, err := openai.EncodeRequest(&tt.req, openai.Target{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(dropped, ",") != strings.Join(tt.want, ",") {
				t.Errorf("dropped %v, want %v", dropped, tt.want)
			}
			if strings.Contains(string(body), "cache_control") || strings.Contains(string(body), "top_k") {
				t.Errorf("dropped feature still in body: %s", body)
			}
			err = dropped.Strict()
			var se *llm.StrictError
			if !errors.Is(err, llm.ErrStrict) || !errors.As(err, &se) || se.Feature != tt.want[0] {
				t.Errorf("Strict() = %v, want a StrictError naming %s", err, tt.want[0])
			}
		})
	}
}

func TestEncodeRequestTarget(t *testing.T) {
	req := &llm.Request{Model: "alias", MaxTokens: 9, Stream: true, Messages: []llm.Message{}}
	tests := []struct {
		name   string
		target openai.Target
		want   []string
	}{
		{"model and max_completion_tokens", openai.Target{Model: "gpt-4o-2024"}, []string{`"model":"gpt-4o-2024"`, `"max_completion_tokens":9`, `"include_usage":true`}},
		{"legacy max_tokens", openai.Target{LegacyMaxTokens: true}, []string{`"model":"alias"`, `"max_tokens":9`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _, err := openai.EncodeRequest(req, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
		})
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	llmtest.RejectsRequests(t, dialect, map[string]string{
		"not json":          `{"model":`,
		"bad role":          `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`,
		"args not object":   `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
		"bad tool_choice":   `{"model":"m","messages":[],"tool_choice":"sometimes"}`,
		"bad stop":          `{"model":"m","messages":[],"stop":5}`,
		"tool without name": `{"model":"m","messages":[],"tools":[{"type":"function","function":{}}]}`,
	})
}

func TestResponseRoundTrip(t *testing.T) {
	llmtest.ResponseRoundTrips(t, dialect, map[string]llm.Response{
		"text":                                 {ID: "c1", Model: "gpt-4o", Created: 5, Content: []llm.Block{text("hello")}, StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 10, OutputTokens: 3}},
		"tools with cache and reasoning usage": {ID: "c2", Model: "o3", Content: []llm.Block{{Type: llm.BlockToolUse, ID: "call_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 60, ReasoningTokens: 20}},
		"length":                               {ID: "c3", Model: "m", Content: []llm.Block{text("cut")}, StopReason: llm.StopMaxTokens},
		"filtered":                             {ID: "c4", Model: "m", Content: []llm.Block{}, StopReason: llm.StopContentFilter},
	})
}

func TestStreamRoundTrip(t *testing.T) {
	u := llm.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 40, ReasoningTokens: 5}
	events := []llm.StreamEvent{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "c1", Model: "gpt-4o", Created: 9, Content: []llm.Block{}}},
		{Type: llm.EventBlockStart, Index: 0, Block: &llm.Block{Type: llm.BlockText}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "Hel"}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "lo"}},
		{Type: llm.EventBlockStop, Index: 0},
		{Type: llm.EventBlockStart, Index: 1, Block: &llm.Block{Type: llm.BlockToolUse, ID: "call_1", Name: "f"}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `{"a":`}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `1}`}},
		{Type: llm.EventBlockStop, Index: 1},
		{Type: llm.EventBlockStart, Index: 2, Block: &llm.Block{Type: llm.BlockToolUse, ID: "call_2", Name: "g"}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `{}`}},
		{Type: llm.EventBlockStop, Index: 2},
		{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &u},
		{Type: llm.EventDone},
	}
	llmtest.StreamRoundTrip(t, dialect, events)
}

func TestStreamUsageOnlyWhenAsked(t *testing.T) {
	u := llm.Usage{InputTokens: 1, OutputTokens: 2}
	events := []llm.StreamEvent{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "c"}},
		{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &u},
		{Type: llm.EventDone},
	}
	for _, include := range []bool{false, true} {
		enc := openai.NewStreamEncoder(include)
		var out []byte
		for _, ev := range events {
			var err error
			if out, err = enc.Encode(out, ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := strings.Contains(string(out), `"usage"`); got != include {
			t.Errorf("include_usage=%v: usage chunk present=%v\n%s", include, got, out)
		}
		if !strings.HasSuffix(string(out), "data: [DONE]\n\n") {
			t.Errorf("stream does not end with [DONE]: %s", out)
		}
	}
}

func TestStreamDecoderEndWithoutDone(t *testing.T) {
	dec := openai.NewStreamDecoder()
	evs, err := dec.Decode(nil, "", []byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}`))
	if err != nil || len(evs) != 3 {
		t.Fatalf("events %v, err %v", evs, err)
	}
	end := dec.End(nil)
	if len(end) != 1 || end[0].Type != llm.EventError {
		t.Fatalf("End() = %+v, want one error event", end)
	}
}

// An upstream error chunk becomes an error event of its canonical class,
// read from its code before its type; a numeric code (an HTTP status, as
// some compatible servers send it) is no malformed chunk. The upstream's
// message is not carried.
func TestStreamDecoderErrorClass(t *testing.T) {
	for _, tt := range []struct{ errObj, want string }{
		{`{"message":"m","type":"tokens","param":null,"code":"rate_limit_exceeded"}`, "rate_limit_error"},
		{`{"message":"m","type":"invalid_request_error","code":"context_length_exceeded"}`, "invalid_request_error"},
		{`{"message":"m","type":"invalid_request_error","code":"invalid_api_key"}`, "api_error"},
		{`{"message":"m","type":"server_error","code":null}`, "api_error"},
		{`{"message":"m","code":503}`, "overloaded_error"},
		{`{"message":"m","code":429}`, "rate_limit_error"},
		{`{"message":"m","type":"request_too_large"}`, "request_too_large"},
		{`{"message":"m","type":"odd","code":"also_odd"}`, "api_error"},
	} {
		evs, err := openai.NewStreamDecoder().Decode(nil, "", []byte(`{"id":"c","error":`+tt.errObj+`}`))
		if err != nil || len(evs) != 1 || evs[0].Type != llm.EventError || evs[0].Error == nil {
			t.Fatalf("%s: events %+v, err %v; want one error event", tt.errObj, evs, err)
		}
		if got := evs[0].Error; got.Type != tt.want || got.Message != "upstream error" {
			t.Errorf("%s: error %+v, want class %q", tt.errObj, got, tt.want)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	llmtest.FuzzRequests(f, dialect, carried, "../testdata/openai_tools.request.json")
}

func FuzzDecodeResponse(f *testing.F) {
	llmtest.FuzzResponses(f, dialect, "../testdata/openai.response.json")
}

func FuzzStreamDecoder(f *testing.F) {
	llmtest.FuzzStreams(f, dialect, "../testdata/openai.stream.sse", "../testdata/openai_error.stream.sse")
}

func TestEmptyContentBesideToolCalls(t *testing.T) {
	req, err := openai.DecodeRequest([]byte(`{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := req.Messages[0].Content; len(c) != 1 || c[0].Type != llm.BlockToolUse {
		t.Errorf("content = %+v, want only the tool call", c)
	}
}

func TestStreamSkipsAzureFilterChunk(t *testing.T) {
	dec := openai.NewStreamDecoder()
	evs, err := dec.Decode(nil, "", []byte(`{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}`))
	if err != nil || len(evs) != 0 {
		t.Fatalf("events %+v, err %v: want nothing yet", evs, err)
	}
	evs, _ = dec.Decode(nil, "", []byte(`{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`))
	if len(evs) != 1 || evs[0].Type != llm.EventMessageStart || evs[0].Message.ID != "chatcmpl-1" {
		t.Errorf("events %+v: want message_start carrying the real id", evs)
	}
}

func TestStreamToolCallShapes(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string // tool blocks as id:args
	}{
		{"id repeated on every delta", []string{
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"arguments":"1}"}}]}}]}`,
		}, `call_a:{"x":1}`},
		{"whole calls without index (Ollama)", []string{
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a","function":{"name":"f","arguments":"{}"}}]}}]}`,
			`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_b","function":{"name":"g","arguments":"{\"y\":2}"}}]},"finish_reason":"tool_calls"}]}`,
		}, `call_a:{} call_b:{"y":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := llmtest.DecodeData(t, openai.NewStreamDecoder(), tt.chunks...)
			ids, args := map[int]string{}, map[int]string{}
			var order []int
			for _, ev := range evs {
				switch {
				case ev.Type == llm.EventBlockStart && ev.Block.Type == llm.BlockToolUse:
					ids[ev.Index] = ev.Block.ID
					order = append(order, ev.Index)
				case ev.Type == llm.EventBlockDelta && ev.Delta.Type == llm.DeltaInputJSON:
					args[ev.Index] += ev.Delta.Text
				}
			}
			var got []string
			for _, i := range order {
				got = append(got, ids[i]+":"+args[i])
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("tool calls %v, want %s", got, tt.want)
			}
		})
	}
}
