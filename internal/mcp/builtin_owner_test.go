package mcp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
	"github.com/bulwarkhq/bulwark/internal/tools/exectool"
	"github.com/bulwarkhq/bulwark/internal/tools/fs"
	"github.com/bulwarkhq/bulwark/internal/tools/gittool"
)

func TestWorkspaceOwner(t *testing.T) {
	reachable := sandboxtest.OpenDir(t) // 0777 under the system temp dir
	closed := filepath.Join(reachable, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(closed, "ws")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	exec := &exectool.Config{}
	tests := []struct {
		name    string
		euid    int
		cfg     BuiltinConfig
		want    *fs.Owner
		wantErr error
	}{
		{"not root: no owner", 1000, BuiltinConfig{WorkspaceRoot: reachable, Exec: exec}, nil, nil},
		{"root without git or exec: no owner", 0, BuiltinConfig{WorkspaceRoot: reachable, FSWrite: true}, nil, nil},
		{"root with exec: default sandbox uid", 0, BuiltinConfig{WorkspaceRoot: reachable, Exec: exec}, &fs.Owner{UID: 65534, GID: 65534}, nil},
		{"root with git: configured uid", 0, BuiltinConfig{WorkspaceRoot: reachable,
			Git: &gittool.Config{Sandbox: sandbox.Config{RunAsUID: 4242, RunAsGID: 4343}}}, &fs.Owner{UID: 4242, GID: 4343}, nil},
		{"git and exec disagree", 0, BuiltinConfig{WorkspaceRoot: reachable, Exec: exec,
			Git: &gittool.Config{Sandbox: sandbox.Config{RunAsUID: 4242}}}, nil, errAny},
		{"parent not searchable", 0, BuiltinConfig{WorkspaceRoot: inner, Exec: exec}, nil, ErrWorkspaceUnreachable},
		{"root itself not searchable", 0, BuiltinConfig{WorkspaceRoot: closed, Exec: exec}, nil, ErrWorkspaceUnreachable},
		{"missing root", 0, BuiltinConfig{WorkspaceRoot: filepath.Join(reachable, "nope"), Exec: exec}, nil, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workspaceOwner(tt.cfg, tt.euid)
			switch {
			case tt.wantErr == errAny && err == nil, tt.wantErr == nil && err != nil,
				tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.want == nil && got != nil, tt.want != nil && (got == nil || *got != *tt.want):
				t.Fatalf("owner = %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestSandboxUnavailableIsOneClearLine: what `bulwark serve` prints when
// git or exec is enabled on a host where bwrap cannot run.
func TestSandboxUnavailableIsOneClearLine(t *testing.T) {
	root := sandboxtest.OpenDir(t)
	missing := sandbox.Config{BwrapPath: "/nonexistent/bwrap"}
	tests := []struct {
		name string
		tool string
		cfg  BuiltinConfig
	}{
		{"exec", "exec", BuiltinConfig{WorkspaceRoot: root, Exec: &exectool.Config{Commands: []exectool.Command{{Path: "/bin/echo"}}, Sandbox: missing}}},
		{"git", "git", BuiltinConfig{WorkspaceRoot: root, Git: &gittool.Config{Sandbox: missing}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBuiltins(tt.cfg)
			if err == nil {
				b.Close()
				t.Fatal("tools built without a sandbox")
			}
			msg := err.Error()
			if !errors.Is(err, sandbox.ErrUnavailable) || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("not one line wrapping ErrUnavailable: %q", msg)
			}
			for _, want := range []string{"tools." + tt.tool + " is enabled", "bubblewrap", "/nonexistent/bwrap", "user namespaces", "apt-get install bubblewrap", "disable tools." + tt.tool} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
		})
	}
}
