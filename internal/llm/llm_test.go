package llm_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

func TestDropped(t *testing.T) {
	tests := []struct {
		name       string
		add        []string
		header     string
		strictName string
	}{
		{"none", nil, "", ""},
		{"sorted and unique", []string{"thinking", "cache_control", "thinking", "top_k"}, "cache_control,thinking,top_k", "cache_control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d llm.Dropped
			for _, f := range tt.add {
				d.Add(f)
			}
			if d.Header() != tt.header {
				t.Errorf("Header() = %q, want %q", d.Header(), tt.header)
			}
			err := d.Strict()
			if tt.strictName == "" {
				if err != nil {
					t.Errorf("Strict() = %v, want nil", err)
				}
				return
			}
			var se *llm.StrictError
			if !errors.Is(err, llm.ErrStrict) || !errors.As(err, &se) || se.Feature != tt.strictName {
				t.Errorf("Strict() = %v, want StrictError for %s", err, tt.strictName)
			}
		})
	}
}

func TestExtensions(t *testing.T) {
	tests := []struct {
		name, body, dialect, obj string
		want, dropped            string
	}{
		{"same dialect re-emitted", `{"model":"m","service_tier":"flex","n":2}`, "openai", `{"model":"m"}`, `{"model":"m","service_tier":"flex","n":2}`, ""},
		{"other dialect dropped", `{"model":"m","context_management":{"a":1}}`, "anthropic", `{"model":"m"}`, `{"model":"m"}`, "context_management"},
		{"existing key kept", `{"model":"m","x":1}`, "openai", `{"model":"m","x":2}`, `{"model":"m","x":2}`, ""},
		{"empty object", `{"x":true}`, "openai", `{}`, `{"x":true}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts := llm.CollectExtensions([]byte(tt.body), tt.dialect, func(k string) bool { return k == "model" })
			target := "openai"
			var d llm.Dropped
			got := llm.AppendExtensions([]byte(tt.obj), exts, target, &d)
			if string(got) != tt.want || d.Header() != tt.dropped {
				t.Errorf("got %s dropped %q, want %s dropped %q", got, d.Header(), tt.want, tt.dropped)
			}
		})
	}
}

func FuzzExtensions(f *testing.F) {
	f.Add([]byte(`{"model":"m","service_tier":"flex","n":2}`))
	f.Add([]byte(`{"a\"b":[1,{"c":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
			return
		}
		exts := llm.CollectExtensions(body, "openai", func(string) bool { return false })
		var d llm.Dropped
		got := llm.AppendExtensions([]byte(`{}`), exts, "openai", &d)
		if !json.Valid(got) {
			t.Fatalf("extensions of %s made invalid JSON %s", body, got)
		}
	})
}
