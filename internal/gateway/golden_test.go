package gateway

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenUpstreamRequests records exactly what the upstream receives for
// real-client-shaped requests: only the model is rewritten (and OpenAI
// streams gain include_usage), every other byte of the body passes
// through, and the headers are the upstream's own, never the client's.
func TestGoldenUpstreamRequests(t *testing.T) {
	tests := []struct {
		name     string
		fixture  string
		path     string
		upstream string // "openai" or "anthropic"
		hdr      map[string]string
	}{
		{name: "claude_code_messages", fixture: "claude_code_messages.json", path: "/v1/messages?beta=true", upstream: "anthropic",
			hdr: map[string]string{"Anthropic-Version": "2023-06-01", "X-Api-Key": "bw_clientkey",
				"Anthropic-Beta": "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,context-management-2025-06-27,oauth-2025-04-20,made-up-beta-2099",
				"Accept":         "application/json", "X-Stainless-Lang": "js", "Anthropic-Dangerous-Direct-Browser-Access": "true"}},
		{name: "claude_code_haiku", fixture: "claude_code_haiku.json", path: "/v1/messages?beta=true", upstream: "anthropic",
			hdr: map[string]string{"Anthropic-Version": "2099-01-01", "X-Api-Key": "bw_clientkey"}},
		{name: "openai_sdk_chat", fixture: "openai_sdk_chat.json", path: "/v1/chat/completions", upstream: "openai",
			hdr: map[string]string{"X-Stainless-Lang": "go", "OpenAI-Organization": "org-client"}},
		{name: "openai_sdk_stream", fixture: "openai_sdk_stream.json", path: "/v1/chat/completions", upstream: "openai"},
		{name: "openai_sdk_embeddings", fixture: "openai_sdk_embeddings.json", path: "/v1/embeddings", upstream: "openai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			body, err := os.ReadFile(filepath.Join("testdata", "requests", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]string{"Cookie": "session=client", "X-Forwarded-For": "203.0.113.9", "Connection": "keep-alive, X-Hop",
				"X-Hop": "1", "Proxy-Authorization": "Basic Y2xpZW50OnNlY3JldA=="}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			resp, out := e.do(t, http.MethodPost, tt.path, string(body), hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			up := e.openai
			if tt.upstream == "anthropic" {
				up = e.anth
			}
			got := dumpUpstream(up.Last())
			golden := filepath.Join("testdata", "golden", tt.name+".txt")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("upstream request differs from %s:\n got: %s\nwant: %s", golden, got, want)
			}
			assertOnlyModelChanged(t, body, up.Last().Body)
		})
	}
}

// dumpUpstream renders a recorded request deterministically.
func dumpUpstream(r upstreamtest.Request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s", r.Method, r.Path)
	if r.RawQuery != "" {
		b.WriteString("?" + r.RawQuery)
	}
	b.WriteString("\n")
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strings.Join(r.Header[k], ", ")
		if k == "X-Api-Key" || k == "Authorization" {
			v = strings.ReplaceAll(v, upstreamKey, "<provider credential>")
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	b.WriteString("\n")
	b.Write(r.Body)
	b.WriteString("\n")
	return b.Bytes()
}

// assertOnlyModelChanged checks that every top-level field except model
// and stream_options reached the upstream byte for byte.
func assertOnlyModelChanged(t *testing.T, sent, got []byte) {
	t.Helper()
	gj := gjson.ParseBytes(got)
	gjson.ParseBytes(sent).ForEach(func(k, v gjson.Result) bool {
		if k.Str == "model" || k.Str == "stream_options" {
			return true
		}
		if up := gj.Get(gjson.Escape(k.Str)); up.Raw != v.Raw {
			t.Errorf("field %q changed: sent %.80s, upstream got %.80s", k.Str, v.Raw, up.Raw)
		}
		return true
	})
}
