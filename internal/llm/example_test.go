package llm_test

import (
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
)

// An Anthropic request (as Claude Code sends it) routed to an OpenAI
// upstream: the encoder names what OpenAI cannot carry.
func Example() {
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,
		"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
		"messages":[{"role":"user","content":"hi"}],
		"thinking":{"type":"enabled","budget_tokens":1024},
		"context_management":{"edits":[]}}`)
	caller, upstream := anthropic.Codec, openai.Codec
	req, err := caller.DecodeRequest(body)
	if err != nil {
		panic(err)
	}
	out, dropped, err := upstream.EncodeRequest(req, llm.Target{Model: "gpt-4o"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	fmt.Println("x-bulwark-dropped:", dropped.Header())
	fmt.Println("strict:", dropped.Strict())
	// Output:
	// {"model":"gpt-4o","messages":[{"role":"system","content":"You are Claude Code."},{"role":"user","content":"hi"}],"max_completion_tokens":1024}
	// x-bulwark-dropped: cache_control,context_management,thinking
	// strict: bulwark strict mode: feature cache_control cannot be carried to this upstream
}
