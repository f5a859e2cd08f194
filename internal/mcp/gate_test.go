package mcp

import (
	"encoding/json"
	"slices"
	"testing"
)

// toolCallCases are JSON-RPC bodies the scope gate reads; want lists the
// tool names it must see, in order.
var toolCallCases = []struct {
	name string
	body string
	want []string
}{
	{"one call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"git","arguments":{"args":["status"]}}}`, []string{"git"}},
	{"batch hides a call", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"exec"}}]`, []string{"exec"}},
	{"not a call", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"name":"git"}}`, nil},
	{"garbage", `{"method":`, nil},
	{"empty", ``, nil},
	{"leading space batch", "  \n[{\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}}]", []string{"a"}},
}

func TestToolCalls(t *testing.T) {
	for _, tt := range toolCallCases {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range toolCalls([]byte(tt.body)) {
				got = append(got, c.Params.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("toolCalls = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzToolCalls: the gate's reader never panics, returns only tools/call
// requests, and agrees with a plain decode on which names are called (so
// no body can hide a call from the scope gate that the SDK would run).
func FuzzToolCalls(f *testing.F) {
	for _, tt := range toolCallCases {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		calls := toolCalls([]byte(body))
		for _, c := range calls {
			if c.Method != "tools/call" {
				t.Fatalf("returned a %q request", c.Method)
			}
			_ = summarizeArgs(c.Params.Arguments)
		}
		var one toolCall
		if json.Unmarshal([]byte(body), &one) == nil && one.Method == "tools/call" {
			if len(calls) != 1 || calls[0].Params.Name != one.Params.Name {
				t.Fatalf("single call %q read as %+v", one.Params.Name, calls)
			}
		}
	})
}
