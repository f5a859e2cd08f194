package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// The official Anthropic Go SDK exists as two modules, v1 and v2, and
// Claude Code users run both against Bulwark. Their types (Client,
// MessageNewParams, Message, Error …) are distinct, and Go generics cannot
// reach a struct's fields (c.Messages.New) or a package's functions, so the
// calls themselves have to be written once per version. Everything else —
// the turns sent, the scenario, what the client must see and what the
// upstream must receive — is written once, here, in plain values: each
// version's file only translates between these types and its SDK's.

// anthropicTurn is one user turn: a model, a single text prompt and the
// max_tokens to ask for.
type anthropicTurn struct {
	Model     string
	Prompt    string
	MaxTokens int64
}

// anthropicReply is what the scenario reads of an answer.
type anthropicReply struct {
	Text         string // the first content block's text
	StopReason   string
	InputTokens  int64
	OutputTokens int64
}

// anthropicStream is a streamed answer, accumulated event by event.
type anthropicStream struct {
	anthropicReply
	Events         int   // events received
	InputJSONDelta bool  // whether a content_block_delta of type input_json_delta arrived
	AccumulateErr  error // the first error of Message.Accumulate
	Err            error // the stream's own error once it ended
}

// anthropicToolCall is a streamed answer that called a tool.
type anthropicToolCall struct {
	anthropicStream
	Name  string // of the tool_use block at index 0
	Input string // its JSON input
	// Answer sends the conversation back with result as the tool_result
	// for the call, and returns the model's next reply.
	Answer func(ctx context.Context, result string) (anthropicReply, error)
}

// anthropicAPIError is what the scenario reads of the SDK's typed error.
type anthropicAPIError struct {
	Status    int
	Raw       string // the error body as received
	RequestID string
	Message   string // err.Error()
}

// anthropicClient is one SDK client, its calls in plain values.
type anthropicClient struct {
	Message  func(ctx context.Context, turn anthropicTurn) (anthropicReply, error)
	Stream   func(ctx context.Context, turn anthropicTurn) anthropicStream
	Count    func(ctx context.Context, model, prompt string) (int64, error)
	ToolCall func(ctx context.Context, turn anthropicTurn) (anthropicToolCall, error) // offers get_weather(location)
	// APIError unpacks err as the SDK's typed API error.
	APIError func(err error) (anthropicAPIError, bool)
}

// sdkDefaultRetries asks newClient for the SDK's default retry policy.
const sdkDefaultRetries = -1

// anthropicClientFunc makes a client of one SDK version for Bulwark at
// base, with key and retries (sdkDefaultRetries: the SDK's default).
type anthropicClientFunc func(base, key string, retries int) anthropicClient

// runAnthropicSDK runs the Anthropic SDK scenario against a fresh stack
// with clients made by newClient.
func runAnthropicSDK(t *testing.T, newClient anthropicClientFunc) {
	s := newStack(t)
	t.Logf("bulwark mode: %s", s.mode)
	c := newClient(s.base, s.key, sdkDefaultRetries)
	ctx := context.Background()

	t.Run("messages", func(t *testing.T) {
		msg, err := c.Message(ctx, anthropicTurn{"smart", "hello claude", 64})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Text != "hello claude" || msg.InputTokens == 0 {
			t.Errorf("reply %+v", msg)
		}
		up := s.anth.Last()
		if h := up.Header; h.Get("X-Api-Key") != upstreamKey || h.Get("Authorization") != "" {
			t.Errorf("upstream auth headers = %v", h)
		}
		if b := string(up.Body); !strings.Contains(b, `"hello claude"`) || !strings.Contains(b, `"max_tokens":64`) {
			t.Errorf("upstream body %s, want the prompt and max_tokens as sent", b)
		}
	})

	t.Run("stream", func(t *testing.T) {
		st := c.Stream(ctx, anthropicTurn{"claude-sonnet-4-5", "one two three", 64})
		requireStreamed(t, st)
		if st.Text != "one two three" || st.StopReason != "end_turn" || st.OutputTokens == 0 {
			t.Errorf("accumulated %+v", st.anthropicReply)
		}
	})

	t.Run("tool_use round trip with input_json_delta", func(t *testing.T) {
		tc, err := c.ToolCall(ctx, anthropicTurn{"anthropic/tools", "weather in Paris?", 64})
		if err != nil {
			t.Fatal(err)
		}
		requireStreamed(t, tc.anthropicStream)
		if !tc.InputJSONDelta || tc.Name != "get_weather" || !strings.Contains(tc.Input, "Paris") {
			t.Fatalf("tool use %s %s (input_json_delta seen: %v)", tc.Name, tc.Input, tc.InputJSONDelta)
		}
		res, err := tc.Answer(ctx, "18C and sunny")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Text, "18C and sunny") {
			t.Errorf("final answer %+v", res)
		}
	})

	t.Run("count_tokens", func(t *testing.T) {
		for _, model := range []string{"smart", "mock/echo"} {
			n, err := c.Count(ctx, model, "count these tokens please")
			if err != nil {
				t.Fatal(err)
			}
			if n <= 0 {
				t.Errorf("%s: input_tokens = %d", model, n)
			}
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		tests := []struct {
			name   string
			client anthropicClient
			model  string
			status int
			typ    string
		}{
			{"unknown model", c, "nope/x", http.StatusNotFound, "not_found_error"},
			{"bad key", newClient(s.base, "bw_wrong", sdkDefaultRetries), "smart", http.StatusUnauthorized, "authentication_error"},
			{"upstream overloaded", newClient(s.base, s.key, 0), "mock/error-529", http.StatusServiceUnavailable, "overloaded_error"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.client.Message(ctx, anthropicTurn{tt.model, "x", 8})
				apiErr, ok := tt.client.APIError(err)
				if !ok {
					t.Fatalf("err = %v, want the SDK's typed error", err)
				}
				if apiErr.Status != tt.status || !strings.Contains(apiErr.Raw, `"type":"`+tt.typ+`"`) {
					t.Errorf("status %d body %s, want %d %s", apiErr.Status, apiErr.Raw, tt.status, tt.typ)
				}
				if apiErr.RequestID == "" {
					t.Error("no request-id on the error")
				}
				assertNoCredential(t, "error", []byte(apiErr.Message))
			})
		}
	})

	t.Run("mid-stream failure is an SDK error", func(t *testing.T) {
		s.anth.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
		st := c.Stream(ctx, anthropicTurn{"smart", "a b c d e f g h", 64})
		if st.Err == nil {
			t.Fatalf("a cut stream ended as a success after %d events", st.Events)
		}
	})

	assertNoCredential(t, "bulwark's log", []byte(s.logs()))
}

// requireStreamed fails t unless every event accumulated and the stream
// ended without error.
func requireStreamed(t *testing.T, st anthropicStream) {
	t.Helper()
	if st.AccumulateErr != nil {
		t.Fatal(st.AccumulateErr)
	}
	if st.Err != nil {
		t.Fatal(st.Err)
	}
}

// TestAnthropicSDKFilesAgree holds the two SDK versions' files to one text:
// anthropic_v2_test.go must be anthropic_v1_test.go with the v2 import
// paths and every version number 1 read as 2, so a change to how the
// scenario is driven cannot reach one version and miss the other. To
// change both, edit the v1 file and regenerate the v2 file with:
//
//	sed -e 's#anthropic-sdk-go"#anthropic-sdk-go/v2"#' -e 's#anthropic-sdk-go/option"#anthropic-sdk-go/v2/option"#' -e 's/\([vV]\)1\b/\12/g' anthropic_v1_test.go > anthropic_v2_test.go
func TestAnthropicSDKFilesAgree(t *testing.T) {
	v1, err := os.ReadFile("anthropic_v1_test.go")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := os.ReadFile("anthropic_v2_test.go")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(`anthropic-sdk-go"`, `anthropic-sdk-go/v2"`,
		`anthropic-sdk-go/option"`, `anthropic-sdk-go/v2/option"`).Replace(string(v1))
	want = regexp.MustCompile(`([vV])1\b`).ReplaceAllString(want, "${1}2")
	if string(v2) != want {
		t.Fatalf("anthropic_v2_test.go is not anthropic_v1_test.go for v2; regenerate it (see this test's comment)")
	}
}
