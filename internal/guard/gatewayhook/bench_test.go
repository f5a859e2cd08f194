package gatewayhook

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/bulwarkhq/bulwark/internal/apierr"
)

// BenchmarkHooks measures the guard's CPU per request on the gateway
// benchmark's body (bench/bodies/chat_bulwark.json) and an echo answer of
// the same text, per phase and policy: the attribution behind the
// gateway-level figures in docs/performance.md.
func BenchmarkHooks(b *testing.B) {
	req, err := os.ReadFile("../../../bench/bodies/chat_bulwark.json")
	if err != nil {
		b.Fatal(err)
	}
	resp, _ := sjson.SetBytes([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`),
		"choices.0.message.content", gjson.GetBytes(req, "messages.1.content").Str)
	policies := map[string]string{
		"default":        "pii=log,secrets=redact,injection=log",
		"pii+secrets":    "pii=redact,secrets=redact,injection=off",
		"redact all":     "pii=redact,secrets=redact,injection=redact",
		"injection only": "pii=off,secrets=off,injection=log",
	}
	for name, settings := range policies {
		h, _, _ := newHooks(b, map[string]string{"k": settings})
		b.Run(name+"/request", func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			for b.Loop() {
				if _, err := h.InspectRequest(ctxFor("k", "default"), apierr.OpenAI, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/response", func(b *testing.B) {
			b.SetBytes(int64(len(resp)))
			for b.Loop() {
				if _, err := h.InspectResponse(ctxFor("k", "default"), apierr.OpenAI, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHooksFresh is BenchmarkHooks with a different word in every
// request (as the gateway bench's -unique does), so the verdict cache never
// answers: what a new prompt and a new answer cost with redact-all.
func BenchmarkHooksFresh(b *testing.B) {
	tmpl, err := os.ReadFile("../../../bench/bodies/chat_bulwark.json")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	fresh := func() []byte {
		n++
		return bytes.Replace(tmpl, []byte("{{n}}"), fmt.Appendf(nil, "w%08d", n), 1)
	}
	h, _, _ := newHooks(b, map[string]string{"k": "pii=redact,secrets=redact,injection=redact"})
	b.Run("redact all/request", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.InspectRequest(ctxFor("k", "default"), apierr.OpenAI, fresh()); err != nil {
				b.Fatal(err)
			}
		}
	})
	answer := func() []byte {
		resp, _ := sjson.SetBytes([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`),
			"choices.0.message.content", gjson.GetBytes(fresh(), "messages.1.content").Str)
		return resp
	}
	b.Run("redact all/response", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.InspectResponse(ctxFor("k", "default"), apierr.OpenAI, answer()); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What making the fresh bodies costs, to subtract from the two above.
	b.Run("bodies alone/request", func(b *testing.B) {
		for b.Loop() {
			fresh()
		}
	})
	b.Run("bodies alone/response", func(b *testing.B) {
		for b.Loop() {
			answer()
		}
	})
}
