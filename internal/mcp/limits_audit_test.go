package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// argvSummaryCases: what the audit log shows of git and exec arguments.
var argvSummaryCases = []struct {
	name    string
	git     bool
	args    string
	want    []string
	notWant []string
}{
	{"git commit message kept", true, `{"args":["commit","-m","first commit"]}`, []string{"git commit -m", "first commit"}, nil},
	{"git URL credentials", true, `{"args":["clone","https://bob:hunter2@example.com/r.git"]}`, []string{"git clone", "example.com/r.git"}, []string{"hunter2", "bob:"}},
	{"git -c with a token", true, `{"args":["-c","http.extraHeader=Authorization: Bearer abc123"]}`, []string{"git -c"}, []string{"abc123"}},
	{"exec low-entropy password option", false, `{"argv":["/usr/bin/mysql","--password=hunter2"]}`, []string{"/usr/bin/mysql", "--password="}, []string{"hunter2"}},
	{"exec separate token value", false, `{"argv":["/bin/tool","--token","letmein"]}`, []string{"/bin/tool --token"}, []string{"letmein"}},
	{"exec NAME=secret", false, `{"argv":["/usr/bin/env","DB_PASSWORD=hunter2","x"]}`, []string{"DB_PASSWORD="}, []string{"hunter2"}},
	{"exec curl bearer header", false, `{"argv":["/usr/bin/curl","-H","X-Api: Bearer s3cr3tvalue"]}`, []string{"/usr/bin/curl -H", "Bearer"}, []string{"s3cr3tvalue"}},
	{"commit message about basic auth stays readable", true, `{"args":["commit","-m","fix basic auth"]}`, []string{"fix basic auth"}, nil},
	{"exec dir shown", false, `{"argv":["/bin/ls"],"dir":"src"}`, []string{"/bin/ls (in src)"}, nil},
	{"exec smuggled field falls back, redacted", false, `{"argv":["/bin/ls"],"tool":"git","password":"hunter2"}`, []string{`"tool":"git"`}, []string{"hunter2"}},
	{"git given exec's field falls back", true, `{"argv":["/bin/sh"]}`, []string{`"argv"`}, nil},
	{"not JSON", true, `{"args":["commit","-m",`, []string{"unparsable"}, []string{"commit"}},
}

func TestArgvSummaries(t *testing.T) {
	for _, tt := range argvSummaryCases {
		t.Run(tt.name, func(t *testing.T) {
			summarize := execSummary
			if tt.git {
				summarize = gitSummary
			}
			got := summarize(json.RawMessage(tt.args))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary %q lacks %q", got, w)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("summary %q keeps %q", got, nw)
				}
			}
		})
	}
}

// FuzzArgvSummary: a secret passed as an option value never reaches the
// audit summary, whatever surrounds it.
func FuzzArgvSummary(f *testing.F) {
	for _, tt := range argvSummaryCases {
		f.Add(tt.args, "hunter2")
	}
	f.Fuzz(func(t *testing.T, args, secret string) {
		_ = gitSummary(json.RawMessage(args))
		_ = execSummary(json.RawMessage(args))
		if len(secret) < 4 || strings.ContainsAny(secret, " \t\n\"\\=:@/") || !utf8.ValidString(secret) {
			return
		}
		enc, _ := json.Marshal(map[string]any{"argv": []string{"/usr/bin/tool", "--password=" + secret, "--token", secret}})
		if got := execSummary(enc); strings.Contains(strings.TrimPrefix(got, "/usr/bin/tool"), secret) {
			t.Fatalf("secret %q kept in %q", secret, got)
		}
	})
}

// Refusals — a scope denial at the door, a call refused before it ran —
// go to Deps.Refusals (the server's aggregator); calls that ran go to
// Audit.
func TestRefusalsGoToTheRefusalAppender(t *testing.T) {
	refused := &memAudit{}
	echoOnce, _ := NewMemoryLimiter(1, time.Minute)
	fx := newFixture(t, fixtureOpts{refusals: refused, perTool: map[string]Limiter{"echo": echoOnce}})
	resp := fx.rawPost(secretNoTools, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/mcp without a tools scope: %d", resp.StatusCode)
	}
	cs := fx.mustConnect(secretAll, Version20251125)
	if _, isErr := callText(t, cs, "echo", map[string]any{}); isErr {
		t.Fatal("first echo refused")
	}
	if _, isErr := callText(t, cs, "echo", map[string]any{}); !isErr {
		t.Fatal("second echo not rate limited")
	}
	var doors, limited int
	for _, e := range refused.all() {
		switch {
		case e.Actor == "key_llm" && e.Details["reason"] == "insufficient_scope":
			doors++
		case e.Actor == "key_all" && e.Target == "echo" && strings.Contains(e.Details["error"], "rate limit"):
			limited++
		default:
			t.Fatalf("unexpected refusal entry %+v", e)
		}
	}
	if doors != 1 || limited != 1 {
		t.Fatalf("refusal appender got %d scope denials and %d rate-limited calls, want 1 and 1", doors, limited)
	}
	for _, e := range fx.audit.all() {
		if e.Action == "tool.call" && e.Outcome == audit.OutcomeDenied {
			t.Fatalf("a refusal bypassed the refusal appender: %+v", e)
		}
	}
}
