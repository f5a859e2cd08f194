package mcp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
	"github.com/bulwarkhq/bulwark/internal/tools/exectool"
	"github.com/bulwarkhq/bulwark/internal/tools/gittool"
)

// procWorkspaceRoot returns a workspace root whose acme workspace the
// sandbox uid can write (the sandbox drops root to uid 65534).
func procWorkspaceRoot(t *testing.T) string {
	t.Helper()
	root := sandboxtest.OpenDir(t)
	if err := os.Mkdir(filepath.Join(root, "acme"), 0o700); err != nil {
		t.Fatal(err)
	}
	sandboxtest.ChownTree(t, root)
	return root
}

func TestBuiltinGitAndExecRunSandboxedInTheTenantWorkspace(t *testing.T) {
	root := procWorkspaceRoot(t)
	outside := sandboxtest.OpenDir(t)
	b := newBuiltins(t, BuiltinConfig{
		WorkspaceRoot: root,
		Git:           &gittool.Config{AuthorName: "Bulwark Agent", AuthorEmail: "agent@bulwark.invalid"},
		Exec:          &exectool.Config{Commands: []exectool.Command{{Path: "/bin/echo"}, {Path: "/usr/bin/touch"}}, Sandbox: sandbox.Config{}},
	})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	if names := toolNames(t, fx.mustConnect(secretReader, Version20251125)); len(names) != 0 {
		t.Fatalf("a key without tools:git/tools:exec sees %v", names)
	}
	cs := fx.mustConnect(secretAll, Version20251125)
	if names := toolNames(t, cs); !slices.Equal(names, []string{"exec", "git"}) {
		t.Fatalf("tools = %v", names)
	}
	escape := filepath.Join(outside, "pwned")
	tests := []struct {
		name    string
		tool    string
		args    map[string]any
		wantErr bool
		want    string
	}{
		{"echo", "exec", map[string]any{"argv": []string{"/bin/echo", "hello", "sandbox"}}, false, "hello sandbox"},
		{"shell not allowlisted", "exec", map[string]any{"argv": []string{"/bin/sh", "-c", "touch " + escape}}, true, "command not allowed"},
		{"name looked up in PATH", "exec", map[string]any{"argv": []string{"echo", "x"}}, true, "command not allowed"},
		{"touch outside the workspace", "exec", map[string]any{"argv": []string{"/usr/bin/touch", escape}}, false, "exit 1"},
		{"git init", "git", map[string]any{"args": []string{"init", "-q"}}, false, "exit 0"},
		{"git status", "git", map[string]any{"args": []string{"status", "--short"}}, false, "exit 0"},
		{"git config injection", "git", map[string]any{"args": []string{"-c", "core.sshCommand=touch " + escape, "status"}}, true, "arguments not allowed"},
		{"git upload-pack", "git", map[string]any{"args": []string{"clone", "--upload-pack=touch " + escape, "https://example.com/r.git"}}, true, "arguments not allowed"},
		{"git network off", "git", map[string]any{"args": []string{"clone", "https://example.com/r.git"}}, true, "network operations are disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr, _ := structured(t, cs, tt.tool, tt.args)
			if isErr != tt.wantErr || !strings.Contains(text, tt.want) {
				t.Fatalf("%s = %q (error %v), want %q", tt.tool, text, isErr, tt.want)
			}
			if strings.Contains(text, root) {
				t.Fatalf("output names the host workspace path: %q", text)
			}
		})
	}
	if _, err := os.Stat(escape); err == nil {
		t.Fatal("a process tool wrote outside the workspace")
	}
	if _, err := os.Stat(filepath.Join(root, "acme", ".git")); err != nil {
		t.Fatalf("git init did not run in the tenant workspace: %v", err)
	}
}
