package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

func TestPerToolLimitReplacesTheSharedOne(t *testing.T) {
	shared, _ := NewMemoryLimiter(100, time.Minute)
	echoOnly, _ := NewMemoryLimiter(1, time.Minute)
	fx := newFixture(t, fixtureOpts{limiter: shared, perTool: map[string]Limiter{"echo": echoOnly, "not_registered": echoOnly}})
	cs := fx.mustConnect(secretAll, Version20251125)
	steps := []struct {
		name    string
		tool    string
		wantErr bool
	}{
		{"echo within its own limit", "echo", false},
		{"echo over its own limit", "echo", true},
		{"time_now on the shared limit", "time_now", false},
		{"time_now again", "time_now", false},
		{"time_now a third time", "time_now", false},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := callText(t, cs, tt.tool, map[string]any{})
			if isErr != tt.wantErr || (isErr && !strings.Contains(text, "rate limit for "+tt.tool+" exceeded")) {
				t.Fatalf("%s = %q (error %v), want error %v", tt.tool, text, isErr, tt.wantErr)
			}
		})
	}
	other := fx.mustConnect(secretReader, Version20251125)
	if _, isErr := callText(t, other, "echo", map[string]any{}); isErr {
		t.Fatal("the per-tool limit of one key applied to another key")
	}
	limited := 0
	for _, e := range fx.audit.all() {
		if e.Target == "echo" && e.Outcome == audit.OutcomeDenied && strings.Contains(e.Details["error"], "rate limit") {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("audited %d rate-limited echo calls, want 1", limited)
	}
}

func TestNewHandlerRefusesANilToolLimiter(t *testing.T) {
	_, err := NewHandler(Config{BaseURL: "http://127.0.0.1:1"}, Deps{Keys: &keyring{}, Audit: &memAudit{}, ToolLimiters: map[string]Limiter{"echo": nil}})
	if err == nil {
		t.Fatal("a nil per-tool limiter was accepted (it would panic at the first call)")
	}
}

func TestScopeDenialAuditsTheRedactedArguments(t *testing.T) {
	fx := newFixture(t, fixtureOpts{})
	secret := "ghp_" + strings.Repeat("Zq8xK2", 6)
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fs_write","arguments":{"text":"rm -rf / --token=` + secret + `"}}}`
	resp := fx.rawPost(secretReader, "", body, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	for _, e := range fx.audit.all() {
		if e.Target != "fs_write" || e.Outcome != audit.OutcomeDenied {
			continue
		}
		args := e.Details["args"]
		if !strings.Contains(args, "rm -rf /") || strings.Contains(args, secret) || !strings.Contains(args, redacted) {
			t.Fatalf("scope denial args summary %q: want the command, not the secret", args)
		}
		return
	}
	t.Fatal("no audit entry for the scope denial")
}

func TestToolAuditDetailsAreCopiedButNeverOverrideCoreFields(t *testing.T) {
	proc := Tool{Name: "proc", Scope: "tools:echo", InputSchema: json.RawMessage(`{"type":"object"}`),
		Handler: func(context.Context, *identity.Identity, json.RawMessage) (Result, error) {
			return Result{Text: "exit 3", Audit: map[string]string{"exit_code": "3", "args": "forged", "scope": "tools:*"}}, nil
		}}
	fx := newFixture(t, fixtureOpts{tools: []Tool{proc}})
	cs := fx.mustConnect(secretAll, Version20251125)
	if _, isErr := callText(t, cs, "proc", map[string]any{}); isErr {
		t.Fatal("proc failed")
	}
	for _, e := range fx.audit.all() {
		if e.Target != "proc" {
			continue
		}
		if e.Details["exit_code"] != "3" || e.Details["args"] != "{}" || e.Details["scope"] != "tools:echo" {
			t.Fatalf("audit details %v", e.Details)
		}
		return
	}
	t.Fatal("no audit entry for proc")
}
