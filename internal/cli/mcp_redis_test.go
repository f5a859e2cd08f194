package cli

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/redistest"
)

// With limits.backend redis the tool limiters keep their counters in
// Redis; when Redis is down a tool call is refused (fail closed), never
// admitted by a per-replica fallback, and it works again once Redis is
// back.
func TestToolLimitsFailClosedWithoutRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	h := toolsServer(t, "  calls_per_minute: 100\n  limits: {time_now: 5}\n  time: {enabled: true}\n  env: {enabled: true, allow: [HOME]}\n")
	appendConfig(t, h, "limits: {backend: redis}\nredis: {prefix: 'mcp:', read_timeout: 300ms, dial_timeout: 300ms}\n")
	t.Setenv("BULWARK_REDIS_URL", "redis://"+srv.Addr+"/0")
	k := h.createKey("--name", "agent", "--scopes", "tools:time,tools:env").Key
	h.serve()
	cs, err := mcpConnect(t, h.addr, k)
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := call(t, cs, "time_now", map[string]any{}); isErr {
		t.Fatalf("time_now with Redis up: %q", text)
	}
	srv.Stop()
	tests := []struct {
		name string
		tool string
		args map[string]any
	}{
		{"per-tool limit (tools.limits)", "time_now", map[string]any{}},
		{"shared limit (tools.calls_per_minute)", "env_get", map[string]any{"name": "HOME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := call(t, cs, tt.tool, tt.args)
			if !isErr || !strings.Contains(text, "rate limiter unavailable; the call was refused") {
				t.Fatalf("%s with Redis down = %q (error %v); want the limiter-unavailable refusal", tt.tool, text, isErr)
			}
		})
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "tool calls flow again after Redis restarts", func() bool {
		_, isErr := call(t, cs, "time_now", map[string]any{})
		return !isErr
	})
}

// appendConfig adds top-level sections to h's configuration file.
func appendConfig(t *testing.T, h *harness, yaml string) {
	t.Helper()
	f, err := os.OpenFile(h.env["BULWARK_CONFIG"], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}
