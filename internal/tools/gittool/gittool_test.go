package gittool

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
)

func newRunner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v (are git and bubblewrap installed?)", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// git runs a validated command and fails the test on refusal or a
// non-zero exit.
func git(t *testing.T, r *Runner, ws string, args ...string) string {
	t.Helper()
	res, err := r.Run(context.Background(), ws, args)
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("git %v: exit %d: %s", args, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

func writeFile(t *testing.T, ws, name, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(ws, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	sandboxtest.ChownTree(t, ws)
}

// hostGit prepares fixtures with the host's git, outside Bulwark, in a
// scrubbed environment. Only test setup uses it.
func hostGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/git", append([]string{"-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always", "-c", "safe.directory=*"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("host git %v: %v: %s", args, err, out)
	}
	return string(out)
}

func TestRoundTrip(t *testing.T) {
	r := newRunner(t, Config{AuthorName: "Agent Smith", AuthorEmail: "smith@example.test"})
	ws := sandboxtest.Workspace(t)
	git(t, r, ws, "init", "-q", "--initial-branch=main")
	writeFile(t, ws, "hello.txt", "hello\n", 0o644)
	if out := git(t, r, ws, "status", "--porcelain"); out != "?? hello.txt\n" {
		t.Fatalf("status = %q", out)
	}
	git(t, r, ws, "add", "hello.txt")
	git(t, r, ws, "commit", "-q", "-m", "first commit")
	writeFile(t, ws, "hello.txt", "hello\nworld\n", 0o644)
	diff := git(t, r, ws, "diff")
	if !strings.Contains(diff, "+world") {
		t.Fatalf("diff = %q", diff)
	}
	git(t, r, ws, "commit", "-q", "-a", "--message=second commit")
	log := git(t, r, ws, "log", "--format=%s|%an|%ae", "-n", "5")
	if log != "second commit|Agent Smith|smith@example.test\nfirst commit|Agent Smith|smith@example.test\n" {
		t.Fatalf("log = %q", log)
	}
	if out := git(t, r, ws, "show", "--stat", "--oneline", "HEAD~1"); !strings.Contains(out, "hello.txt") {
		t.Fatalf("show = %q", out)
	}
	git(t, r, ws, "switch", "-q", "-c", "feature")
	if out := git(t, r, ws, "rev-parse", "--abbrev-ref", "HEAD"); out != "feature\n" {
		t.Fatalf("rev-parse = %q", out)
	}
	if out := git(t, r, ws, "branch", "--list"); out != "* feature\n  main\n" {
		t.Fatalf("branch = %q", out)
	}
	if out := git(t, r, ws, "ls-files"); out != "hello.txt\n" {
		t.Fatalf("ls-files = %q", out)
	}
	git(t, r, ws, "checkout", "-q", "main")
	writeFile(t, ws, "hello.txt", "changed\n", 0o644)
	git(t, r, ws, "restore", "hello.txt")
	if b, _ := os.ReadFile(filepath.Join(ws, "hello.txt")); string(b) != "hello\nworld\n" {
		t.Fatalf("restore left %q", b)
	}
	if out := git(t, r, ws, "diff", "HEAD~1", "HEAD", "--stat"); !strings.Contains(out, "1 insertion") {
		t.Fatalf("diff revs = %q", out)
	}
}

// TestInjectionRefused feeds the argument injections peers admitted.
func TestInjectionRefused(t *testing.T) {
	r := newRunner(t, Config{Network: NetworkConfig{Enabled: true, AllowHosts: []string{"github.com"}}})
	ws := sandboxtest.Workspace(t)
	git(t, r, ws, "init", "-q")
	canary := filepath.Join(sandboxtest.OpenDir(t), "canary")
	tests := []struct {
		name string
		args []string
	}{
		{"upload-pack", []string{"clone", "--upload-pack=touch " + canary, "https://github.com/a/b"}},
		{"upload-pack split", []string{"fetch", "--upload-pack", "touch " + canary}},
		{"upload-pack short", []string{"clone", "-u", "touch " + canary, "https://github.com/a/b"}},
		{"upload-pack abbreviated", []string{"clone", "--upload-p=touch " + canary, "https://github.com/a/b"}},
		{"receive-pack", []string{"push", "--receive-pack=touch " + canary}},
		{"exec", []string{"push", "--exec=touch " + canary}},
		{"global -c", []string{"-c", "core.sshCommand=touch " + canary, "status"}},
		{"-c after subcommand", []string{"clone", "-c", "core.sshCommand=touch " + canary, "https://github.com/a/b"}},
		{"config", []string{"clone", "--config=core.sshCommand=touch " + canary, "https://github.com/a/b"}},
		{"config-env", []string{"--config-env=core.pager=X", "log"}},
		{"git-dir", []string{"--git-dir=/etc", "status"}},
		{"git-dir in rev-parse", []string{"rev-parse", "--git-dir"}},
		{"work-tree", []string{"status", "--work-tree=/"}},
		{"namespace", []string{"--namespace=x", "log"}},
		{"template", []string{"init", "--template=/tmp/evil"}},
		{"separate-git-dir", []string{"init", "--separate-git-dir=/tmp/x"}},
		{"ext transport", []string{"clone", "ext::sh -c touch% " + canary, "x"}},
		{"ext transport fetch", []string{"fetch", "ext::sh -c touch%20/tmp/canary"}},
		{"file url", []string{"clone", "file:///etc", "x"}},
		{"fd transport", []string{"fetch", "fd::3"}},
		{"local path clone", []string{"clone", "/etc", "x"}},
		{"ssh url", []string{"clone", "ssh://github.com/a/b"}},
		{"scp-like url", []string{"clone", "git@github.com:a/b"}},
		{"http url", []string{"clone", "http://github.com/a/b"}},
		{"credentials in url", []string{"clone", "https://user:tok@github.com/a/b"}},
		{"userinfo host confusion", []string{"clone", "https://github.com@evil.example/a"}},
		{"output", []string{"diff", "--output=/tmp/x"}},
		{"ext-diff", []string{"diff", "--ext-diff"}},
		{"textconv", []string{"log", "-p", "--textconv"}},
		{"no-index", []string{"diff", "--no-index", "/etc/passwd", "x"}},
		{"recurse submodules", []string{"clone", "--recurse-submodules", "https://github.com/a/b"}},
		{"reference", []string{"clone", "--reference=/srv/repo", "https://github.com/a/b"}},
		{"absolute path", []string{"add", "/etc/passwd"}},
		{"dotdot path", []string{"add", "../x"}},
		{"dotdot after --", []string{"log", "--", "a/../../x"}},
		{"pathspec magic", []string{"add", ":(top)x"}},
		{"git metadata", []string{"add", ".git/config"}},
		{"option as positional", []string{"log", "--", "-x"}},
		{"signature format", []string{"log", "--format=%G?"}},
		{"unknown subcommand", []string{"submodule", "update"}},
		{"config subcommand", []string{"config", "core.pager", "touch x"}},
		{"commit without message", []string{"commit"}},
		{"commit from file", []string{"commit", "-F", "/etc/passwd"}},
		{"bundled short flags", []string{"commit", "-am", "x"}},
		{"rev with option", []string{"log", "--since=1; touch x"}},
		{"leading dash rev", []string{"checkout", "--", "-b"}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), ws, tt.args)
			if err == nil {
				t.Fatalf("git %q was accepted", tt.args)
			}
			if !errors.Is(err, ErrArgsRejected) && !errors.Is(err, ErrHostNotAllowed) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if strings.Contains(err.Error(), "tok@") {
				t.Fatalf("error echoes a credential: %v", err)
			}
		})
	}
	sandboxtest.AssertNoFile(t, canary)
	sandboxtest.AssertNoFile(t, "/tmp/canary")
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"relative git", Config{GitPath: "git"}, ErrInvalidConfig},
		{"missing git", Config{GitPath: "/nonexistent/git"}, ErrInvalidConfig},
		{"multi-line author", Config{AuthorName: "a\nb"}, ErrInvalidConfig},
		{"wildcard host", Config{Network: NetworkConfig{Enabled: true, AllowHosts: []string{"*.github.com"}}}, ErrInvalidConfig},
		{"relative CA file", Config{Network: NetworkConfig{CAFile: "ca.pem"}}, ErrInvalidConfig},
		{"no bwrap", Config{Sandbox: sandbox.Config{BwrapPath: "/nonexistent/bwrap"}}, ErrSandboxUnavailable},
		{"bwrap cannot sandbox", Config{Sandbox: sandbox.Config{BwrapPath: "/bin/false"}}, ErrSandboxUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
