package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestRoutingWithOpenAISDK drives the bulwark binary with the official
// OpenAI SDK: an Idempotency-Key repeated by the SDK reaches the upstream
// once and the replay is the same completion; a key whose budget cannot
// cover a call gets a typed 429 naming the budget, and no upstream call.
func TestRoutingWithOpenAISDK(t *testing.T) {
	s := newStack(t)
	if s.bin == "" {
		t.Fatalf("this test needs the bulwark binary (mode %s)", s.mode)
	}
	ctx := context.Background()
	msg := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("pay once")}

	t.Run("idempotency key reaches the upstream once", func(t *testing.T) {
		c := openaiClient(s, option.WithHeader("Idempotency-Key", "e2e-order-1"))
		before := len(s.openai.Requests())
		first, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast", Messages: msg})
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast", Messages: msg})
		if err != nil {
			t.Fatal(err)
		}
		if first.ID != second.ID || first.Choices[0].Message.Content != second.Choices[0].Message.Content {
			t.Errorf("replay differs: %q/%q vs %q/%q", first.ID, first.Choices[0].Message.Content, second.ID, second.Choices[0].Message.Content)
		}
		if got := len(s.openai.Requests()) - before; got != 1 {
			t.Errorf("upstream called %d times", got)
		}
	})

	t.Run("budget refusal is a typed 429 naming the budget", func(t *testing.T) {
		cmd := exec.Command(s.bin, "keys", "create", "--name", "broke", "--budget-usd", "0", "--json")
		cmd.Env = s.env
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(out, &k); err != nil {
			t.Fatal(err)
		}
		c := openaiClient(s, option.WithAPIKey(k.Key), option.WithMaxRetries(0))
		before := len(s.openai.Requests())
		_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast", Messages: msg})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "budget_exceeded" {
			t.Fatalf("err = %v", err)
		}
		if got := len(s.openai.Requests()) - before; got != 0 {
			t.Errorf("a refused call reached the upstream %d times", got)
		}
	})
}
