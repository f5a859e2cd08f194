package mock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/sse"
)

func roundTrip(t *testing.T, ctx context.Context, path, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://mock.bulwark.invalid"+path, strings.NewReader(body))
	resp, err := (&Transport{}).RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestBehaviours(t *testing.T) {
	tests := []struct {
		name, path, body string
		status           int
		check            string // gjson path that must exist / equal
		want             string
	}{
		{"openai echo", "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"ping"}]}`, 200, "choices.0.message.content", "ping"},
		{"anthropic echo of blocks", "/v1/messages", `{"model":"echo","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`, 200, "content.0.text", "a b"},
		{"openai text", "/v1/chat/completions", `{"model":"text","messages":[]}`, 200, "choices.0.message.content", Text},
		{"openai tool call", "/v1/chat/completions", `{"model":"tools","tools":[{"type":"function","function":{"name":"lookup"}}],"messages":[{"role":"user","content":"x"}]}`, 200, "choices.0.message.tool_calls.0.function.name", "lookup"},
		{"openai tool result answered", "/v1/chat/completions", `{"model":"tools","messages":[{"role":"tool","tool_call_id":"c","content":"42"}]}`, 200, "choices.0.message.content", "The tool said: 42"},
		{"anthropic tool_use", "/v1/messages", `{"model":"tools","messages":[{"role":"user","content":"x"}]}`, 200, "content.0.input.location", "Paris"},
		{"anthropic tool_result answered", "/v1/messages", `{"model":"tools","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"sunny"}]}]}]}`, 200, "content.0.text", "The tool said: sunny"},
		{"injected 429 anthropic shape", "/v1/messages", `{"model":"error-429"}`, 429, "error.type", "rate_limit_error"},
		{"injected 500 openai shape", "/v1/chat/completions", `{"model":"error-500"}`, 500, "error.code", "500"},
		{"count tokens", "/v1/messages/count_tokens", `{"model":"echo","messages":[]}`, 200, "input_tokens", "8"},
		{"embeddings", "/v1/embeddings", `{"model":"e","input":["a","b"]}`, 200, "data.1.index", "1"},
		{"bad json", "/v1/chat/completions", `{"model":`, 400, "error.message", "invalid JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b, err := roundTrip(t, context.Background(), tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || gjson.GetBytes(b, tt.check).String() != tt.want {
				t.Errorf("status %d, %s = %q; want %d %q (%s)", resp.StatusCode, tt.check, gjson.GetBytes(b, tt.check).String(), tt.status, tt.want, b)
			}
		})
	}
}

func TestStreams(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantLast         string
		wantErr          bool
	}{
		{"openai ends with DONE", "/v1/chat/completions", `{"model":"echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b c"}]}`, "[DONE]", false},
		{"anthropic ends with message_stop", "/v1/messages", `{"model":"tools","stream":true,"messages":[{"role":"user","content":"x"}]}`, `{"type":"message_stop"}`, false},
		{"cut breaks the stream", "/v1/messages", `{"model":"cut","stream":true,"messages":[]}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://mock.bulwark.invalid"+tt.path, strings.NewReader(tt.body))
			resp, err := (&Transport{}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			rd := sse.NewReader(resp.Body)
			var last string
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if !tt.wantErr || !errors.Is(err, ErrCut) {
						t.Fatalf("err = %v", err)
					}
					return
				}
				last = string(ev.Data)
			}
			if tt.wantErr || last != tt.wantLast {
				t.Errorf("last event %q, want %q (wantErr %v)", last, tt.wantLast, tt.wantErr)
			}
		})
	}
}

func TestSlowHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := roundTrip(t, ctx, "/v1/chat/completions", `{"model":"slow","messages":[]}`)
	if err == nil || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("err = %v after %v; want a prompt cancel", err, time.Since(start))
	}
}
