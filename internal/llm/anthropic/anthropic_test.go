package anthropic_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

var dialect = llmtest.Dialects[1]

func f64(v float64) *float64 { return &v }

func text(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }

var eph = &llm.CacheControl{Type: "ephemeral"}

// claudeCode is a request Claude Code sent, as recorded.
const claudeCode = "../testdata/claude_code.request.json"

var carried = map[string]llm.Request{
	"plain": {Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("hi")}}}},
	"cached system and sampling": {
		Model: "claude", MaxTokens: 10, System: []llm.Block{{Type: llm.BlockText, Text: "sys", Cache: eph}, text("more")},
		Messages:    []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{text("a"), {Type: llm.BlockText, Text: "b", Cache: &llm.CacheControl{Type: "ephemeral", TTL: "1h"}}}}},
		Temperature: f64(0.3), TopP: f64(0.8), TopK: func() *int { k := 40; return &k }(), Stop: []string{"X"}, User: "u",
		Stream: true, IncludeUsage: true,
	},
	"thinking, tools and results": {
		Model: "claude", MaxTokens: 4096, Reasoning: &llm.Reasoning{Type: "enabled", BudgetTokens: 2048},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{text("q"), {Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceURL, URL: "https://x/a.png"}}, {Type: llm.BlockDocument, Title: "d", Source: &llm.Source{Kind: llm.SourceText, MediaType: "text/plain", Data: "doc"}}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "hmm", Signature: "sig"}, {Type: llm.BlockRedactedThinking, Data: "opaque"}, {Type: llm.BlockToolUse, ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":[1,2]}`)}}},
			{Role: llm.RoleTool, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "toolu_1", IsError: true, Content: []llm.Block{text("boom"), {Type: llm.BlockImage, Source: &llm.Source{Kind: llm.SourceBase64, MediaType: "image/png", Data: "iVBO"}}}}}},
			{Role: llm.RoleUser, Content: []llm.Block{text("continue")}},
		},
		Tools:      []llm.Tool{{Name: "f", Description: "d", Schema: json.RawMessage(`{"type":"object"}`), Cache: eph}},
		ToolChoice: &llm.ToolChoice{Mode: llm.ToolAuto, DisableParallel: true},
	},
	"forced tool and structured output": {Model: "c", MaxTokens: 5, Messages: []llm.Message{}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolName, Name: "f"}, ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)}},
	"extension":                         {Model: "c", MaxTokens: 5, Messages: []llm.Message{}, Extensions: []llm.Extension{{Dialect: "anthropic", Key: "context_management", Value: json.RawMessage(`{"edits":[]}`)}}},
}

func TestRequestRoundTrip(t *testing.T) { llmtest.RequestRoundTrips(t, dialect, carried) }

// TestClaudeCodeRequest checks what the gateway relies on from Claude
// Code's shape: system entries hoisted, tool results split out, and a
// lossless same-dialect round trip.
func TestClaudeCodeRequest(t *testing.T) {
	req := llmtest.DecodeFile(t, dialect, claudeCode)
	if len(req.System) != 4 || req.System[2].Text != "Current working directory: /home/dev/project" || req.System[0].Cache == nil {
		t.Errorf("system = %+v, want 2 top-level blocks then the 2 role:system entries", req.System)
	}
	if len(req.Tools) != 20 || req.Reasoning == nil || req.Reasoning.BudgetTokens != 31999 {
		t.Errorf("tools %d, reasoning %+v", len(req.Tools), req.Reasoning)
	}
	roles := ""
	for _, m := range req.Messages {
		roles += string(m.Role) + " "
	}
	if roles != "user assistant tool user " {
		t.Errorf("roles = %q", roles)
	}
	llmtest.RequestRoundTrip(t, dialect, req)
}

func TestEncodeRequestVersions(t *testing.T) {
	k := 10
	base := llm.Request{Model: "c", MaxTokens: 100, Messages: []llm.Message{}, Temperature: f64(0.2), TopP: f64(0.9), TopK: &k}
	tests := []struct {
		name    string
		version string
		mutate  func(*llm.Request)
		dropped []string
		absent  []string
		present []string
	}{
		{"2023-06-01 keeps sampling", anthropic.Version20230601, nil, nil, nil, []string{`"temperature":0.2`, `"top_p":0.9`, `"top_k":10`}},
		{"2026-10-21 refuses sampling", anthropic.Version20261021, nil, []string{"temperature", "top_k", "top_p"}, []string{"temperature", "top_p", "top_k"}, nil},
		{"seed and penalties", anthropic.Version20230601, func(r *llm.Request) {
			s := int64(1)
			r.Seed, r.PresencePenalty, r.FrequencyPenalty = &s, f64(1), f64(1)
		}, []string{"frequency_penalty", "presence_penalty", "seed"}, []string{"seed", "penalty"}, nil},
		{"thinking forbids sampling changes", anthropic.Version20230601, func(r *llm.Request) {
			r.Reasoning = &llm.Reasoning{Type: "enabled", BudgetTokens: 1024}
		}, []string{"temperature", "top_k", "top_p"}, []string{"temperature"}, []string{`"budget_tokens":1024`}},
		{"budget above max_tokens raises max_tokens", anthropic.Version20230601, func(r *llm.Request) {
			r.Temperature, r.TopP, r.TopK = nil, nil, nil
			r.Reasoning = &llm.Reasoning{Type: "enabled", BudgetTokens: 2048}
		}, nil, nil, []string{`"max_tokens":2148`}},
		{"forced tool drops thinking", anthropic.Version20230601, func(r *llm.Request) {
			r.Temperature, r.TopP, r.TopK = nil, nil, nil
			r.Reasoning = &llm.Reasoning{Type: "enabled", BudgetTokens: 1024}
			r.ToolChoice = &llm.ToolChoice{Mode: llm.ToolName, Name: "f"}
		}, []string{"thinking"}, []string{"thinking", "budget"}, []string{`"tool_choice":{"type":"tool","name":"f"}`}},
		{"json_object has no Anthropic form", anthropic.Version20230601, func(r *llm.Request) {
			r.Temperature, r.TopP, r.TopK = nil, nil, nil
			r.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONObject}
		}, []string{"response_format"}, []string{"output_format"}, nil},
		{"effort has no Anthropic form", anthropic.Version20230601, func(r *llm.Request) {
			r.Temperature, r.TopP, r.TopK = nil, nil, nil
			r.Reasoning = &llm.Reasoning{Effort: "high"}
		}, []string{"reasoning_effort"}, []string{"thinking"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			if tt.mutate != nil {
				tt.mutate(&req)
			}
			body, dropped, err := anthropic.EncodeRequest(&req, anthropic.Target{Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(dropped, ",") != strings.Join(tt.dropped, ",") {
				t.Errorf("dropped %v, want %v", dropped, tt.dropped)
			}
			for _, a := range tt.absent {
				if strings.Contains(string(body), a) {
					t.Errorf("body has %q: %s", a, body)
				}
			}
			for _, p := range tt.present {
				if !strings.Contains(string(body), p) {
					t.Errorf("body lacks %q: %s", p, body)
				}
			}
		})
	}
}

func TestEncodeRequestMergesToolResults(t *testing.T) {
	req := &llm.Request{Model: "c", MaxTokens: 1, Messages: []llm.Message{
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ID: "call.1/x", Name: "f", Input: json.RawMessage(`{}`)}}},
		{Role: llm.RoleTool, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "call.1/x"}}},
		{Role: llm.RoleUser, Content: []llm.Block{text("next")}},
	}}
	body, _, err := anthropic.EncodeRequest(req, anthropic.Target{})
	if err != nil {
		t.Fatal(err)
	}
	want := `"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"call_1_x","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1_x"},{"type":"text","text":"next"}]}]`
	if !strings.Contains(string(body), want) {
		t.Errorf("body %s\nlacks %s", body, want)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	llmtest.RejectsRequests(t, dialect, map[string]string{
		"not json":             `[`,
		"bad role":             `{"model":"m","max_tokens":1,"messages":[{"role":"bot","content":"x"}]}`,
		"image without source": `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]}`,
		"input not object":     `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":"x"}]}]}`,
		"content wrong type":   `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}`,
	})
}

func TestResponseRoundTrip(t *testing.T) {
	llmtest.ResponseRoundTrips(t, dialect, map[string]llm.Response{
		"thinking and tool": {ID: "msg_1", Model: "claude", Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "t", Signature: "s"}, text("x"), {Type: llm.BlockToolUse, ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}}, StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100, CacheCreationTokens: 20, CacheCreation1hTokens: 15}},
		"stop sequence":     {ID: "msg_2", Model: "claude", Content: []llm.Block{text("a")}, StopReason: llm.StopSequence, StopSequence: "END"},
		"refusal":           {ID: "msg_3", Model: "claude", Content: []llm.Block{}, StopReason: llm.StopContentFilter},
	})
}

func TestUsageMapping(t *testing.T) {
	resp, err := anthropic.DecodeResponse([]byte(`{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":40,"cache_creation_input_tokens":20,"cache_read_input_tokens":100}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100, CacheCreationTokens: 20}
	if resp.Usage != want {
		t.Errorf("usage %+v, want %+v (input includes cache reads and writes)", resp.Usage, want)
	}
	// One-hour cache writes are billed at another rate: their share is kept.
	resp, err = anthropic.DecodeResponse([]byte(`{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":40,"cache_creation_input_tokens":20,"cache_read_input_tokens":100,"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":15}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want.CacheCreation1hTokens = 15; resp.Usage != want {
		t.Errorf("usage %+v, want %+v", resp.Usage, want)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	start := llm.Usage{InputTokens: 132, CacheReadTokens: 100, CacheCreationTokens: 20}
	final := llm.Usage{InputTokens: 132, OutputTokens: 40, CacheReadTokens: 100, CacheCreationTokens: 20, CacheCreation1hTokens: 20}
	events := []llm.StreamEvent{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_1", Model: "claude", Content: []llm.Block{}, Usage: start}},
		{Type: llm.EventBlockStart, Index: 0, Block: &llm.Block{Type: llm.BlockThinking}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaThinking, Text: "think"}},
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaSignature, Text: "sig"}},
		{Type: llm.EventBlockStop, Index: 0},
		{Type: llm.EventPing},
		{Type: llm.EventBlockStart, Index: 1, Block: &llm.Block{Type: llm.BlockText}},
		{Type: llm.EventBlockDelta, Index: 1, Delta: &llm.Delta{Type: llm.DeltaText, Text: "hi"}},
		{Type: llm.EventBlockStop, Index: 1},
		{Type: llm.EventBlockStart, Index: 2, Block: &llm.Block{Type: llm.BlockToolUse, ID: "toolu_1", Name: "f"}},
		{Type: llm.EventBlockDelta, Index: 2, Delta: &llm.Delta{Type: llm.DeltaInputJSON, Text: `{"a":1}`}},
		{Type: llm.EventBlockStop, Index: 2},
		{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &final},
		{Type: llm.EventDone},
	}
	llmtest.StreamRoundTrip(t, dialect, events)
}

func TestStreamSkipsServerToolBlocks(t *testing.T) {
	evs := llmtest.DecodeData(t, anthropic.NewStreamDecoder(),
		`{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srv","name":"web_search"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"x"}}`,
	)
	if len(evs) != 2 || evs[0].Index != 0 || evs[0].Block.Type != llm.BlockText || evs[1].Index != 0 {
		t.Errorf("events %+v: want the text block renumbered to index 0", evs)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	llmtest.FuzzRequests(f, dialect, carried, claudeCode)
}

func FuzzDecodeResponse(f *testing.F) {
	llmtest.FuzzResponses(f, dialect, "../testdata/anthropic.response.json")
}

func FuzzStreamDecoder(f *testing.F) {
	llmtest.FuzzStreams(f, dialect, "../testdata/anthropic.stream.sse", "../testdata/anthropic_error.stream.sse")
}
