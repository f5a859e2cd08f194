package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// These tests drive git, exec and the file tools through a running
// `bulwark serve` with the official MCP Go SDK, the way an agent would.
// They run as root in CI (CI=true): the sandbox then drops to uid 65534,
// so they also prove that the workspace the file tools write is one the
// sandbox can use. A host without bwrap fails them (serve refuses to
// start), it never skips them.

// sandboxUID is the host uid git and exec run as in this test process.
func sandboxUID() int {
	if os.Geteuid() == 0 {
		return 65534
	}
	return os.Geteuid()
}

// reachableDir returns a fresh directory that the sandbox uid may enter
// but not list or write (0711), for workspace roots and canaries: only
// the sandbox's mount namespace, not its permissions, keeps it out of a
// sibling canary directory (0777).
func reachableDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bulwark-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// toolsServer starts serve with the tools section yaml (indented under
// "tools:") and returns the harness.
func toolsServer(t *testing.T, toolsYAML string) *harness {
	t.Helper()
	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("tools:\n"+toolsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = cfg
	return h
}

// call runs one tool and returns its text and whether it was an error.
func call(t *testing.T, cs *sdk.ClientSession, tool string, args map[string]any) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return err.Error(), true
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), res.IsError
}

func assertOwner(t *testing.T, p string, uid int, perm os.FileMode) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(st.Sys().(*syscall.Stat_t).Uid); got != uid {
		t.Fatalf("%s owned by uid %d, want %d (the sandbox uid)", filepath.Base(p), got, uid)
	}
	if perm != 0 && st.Mode().Perm() != perm {
		t.Fatalf("%s mode %v, want %v", filepath.Base(p), st.Mode().Perm(), perm)
	}
}

func assertAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Fatalf("canary %s exists: something ran that must not", p)
	}
}

func TestGitAndExecThroughServe(t *testing.T) {
	ws := reachableDir(t, 0o711)
	canaries := reachableDir(t, 0o777)
	h := toolsServer(t, "  workspace_root: "+ws+`
  fs: {enabled: true}
  fs_write: {enabled: true}
  git: {enabled: true}
  exec:
    enabled: true
    commands:
      - {path: /usr/bin/printf}
      - {path: /bin/echo}
      - {path: /bin/cat}
`)
	agent := h.createKey("--name", "agent", "--scopes", "tools:fs.read,tools:fs.write,tools:git,tools:exec")
	noGit := h.createKey("--name", "no-git", "--scopes", "tools:fs.read,tools:fs.write,tools:exec")
	h.serve()
	cs, err := mcpConnect(t, h.addr, agent.Key)
	if err != nil {
		t.Fatal(err)
	}
	tenant := filepath.Join(ws, "default")
	secret := "ghp_" + strings.Repeat("Zq8xK2", 6)

	steps := []struct {
		name    string
		tool    string
		args    map[string]any
		wantErr bool
		want    string
	}{
		{"fs_write a file", "fs_write", map[string]any{"path": "README.md", "content": "hello\n"}, false, "wrote 6 bytes"},
		{"git init", "git", map[string]any{"args": []string{"init", "-q", "--initial-branch=main"}}, false, "exit 0"},
		{"git add what fs_write wrote", "git", map[string]any{"args": []string{"add", "README.md"}}, false, "exit 0"},
		{"git commit", "git", map[string]any{"args": []string{"commit", "-q", "-m", "first commit"}}, false, "exit 0"},
		{"git log", "git", map[string]any{"args": []string{"log", "--oneline"}}, false, "first commit"},
		{"fs_write a change", "fs_write", map[string]any{"path": "README.md", "content": "hello\nworld\n"}, false, "wrote"},
		{"git diff", "git", map[string]any{"args": []string{"diff"}}, false, "+world"},
		{"fs_write in a new dir", "fs_write", map[string]any{"path": "src/main.txt", "content": "nested"}, false, "wrote"},
		{"git status sees it", "git", map[string]any{"args": []string{"status", "--short"}}, false, "?? src/"},
		{"exec printf", "exec", map[string]any{"argv": []string{"/usr/bin/printf", "%s-%s", "a", "b"}}, false, "a-b"},
		{"exec reads an fs_write file in the sandbox", "exec", map[string]any{"argv": []string{"/bin/cat", "main.txt"}, "dir": "src"}, false, "nested"},
		{"exec with a secret argument", "exec", map[string]any{"argv": []string{"/bin/echo", "--token=" + secret}}, false, "exit 0"},
		{"exec with a low-entropy password option", "exec", map[string]any{"argv": []string{"/bin/echo", "--password=hunter2"}}, false, "exit 0"},
		{"exec exiting non-zero", "exec", map[string]any{"argv": []string{"/bin/cat", "no-such-file"}}, false, "exit 1"},
		{"git --upload-pack", "git", map[string]any{"args": []string{"fetch", "--upload-pack=touch " + filepath.Join(canaries, "upload"), "origin"}}, true, "arguments not allowed"},
		{"git clone --upload-pack", "git", map[string]any{"args": []string{"clone", "--upload-pack=touch /workspace/upload", "https://example.com/r.git"}}, true, "arguments not allowed"},
		{"git -c core.sshCommand", "git", map[string]any{"args": []string{"-c", "core.sshCommand=touch /workspace/ssh", "status"}}, true, "arguments not allowed"},
		{"git --config-env", "git", map[string]any{"args": []string{"--config-env=core.fsmonitor=X", "status"}}, true, "arguments not allowed"},
		{"git ext:: transport", "git", map[string]any{"args": []string{"clone", "ext::sh -c touch% /workspace/ext", "x"}}, true, "not allowed"},
		{"exec non-allowlisted path", "exec", map[string]any{"argv": []string{"/usr/bin/id"}}, true, "command not allowed"},
		{"exec name looked up in PATH", "exec", map[string]any{"argv": []string{"printf", "x"}}, true, "command not allowed"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := call(t, cs, tt.tool, tt.args)
			if isErr != tt.wantErr || !strings.Contains(text, tt.want) {
				t.Fatalf("%s = %q (error %v), want %q (error %v)", tt.tool, text, isErr, tt.want, tt.wantErr)
			}
			if strings.Contains(text, ws) {
				t.Fatalf("result names the host workspace path: %q", text)
			}
		})
	}
	t.Run("workspace owned by the sandbox uid, never widened", func(t *testing.T) {
		uid := sandboxUID()
		assertOwner(t, tenant, uid, 0o700)
		assertOwner(t, filepath.Join(tenant, "README.md"), uid, 0o644)
		assertOwner(t, filepath.Join(tenant, "src"), uid, 0o755)
		assertOwner(t, filepath.Join(tenant, ".git"), uid, 0)
	})
	for _, c := range []string{filepath.Join(canaries, "upload"), filepath.Join(tenant, "upload"), filepath.Join(tenant, "ssh"), filepath.Join(tenant, "ext")} {
		assertAbsent(t, c)
	}

	t.Run("planted repository config", func(t *testing.T) { plantedRepoConfig(t, cs, tenant, canaries) })

	t.Run("key without tools:git", func(t *testing.T) {
		cs2, err := mcpConnect(t, h.addr, noGit.Key)
		if err != nil {
			t.Fatal(err)
		}
		list, err := cs2.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range list.Tools {
			if tool.Name == "git" {
				t.Fatal("git listed for a key without tools:git")
			}
		}
		// The scope is checked before the call reaches the tool (HTTP 403
		// insufficient_scope, which the SDK reports as Forbidden).
		text, isErr := call(t, cs2, "git", map[string]any{"args": []string{"init", "-q", "--template=" + secret}})
		if !isErr || !strings.Contains(text, "tools:git") && !strings.Contains(text, "Forbidden") {
			t.Fatalf("git without tools:git = %q (error %v)", text, isErr)
		}
	})

	t.Run("audit", func(t *testing.T) { assertToolAudit(t, h, agent, noGit, secret) })
}

// plantedRepoConfig writes, as the attacker who controls the workspace
// would, a .git/config that makes git run a program, and checks that git
// refuses to run at all and that no canary appears.
func plantedRepoConfig(t *testing.T, cs *sdk.ClientSession, tenant, canaries string) {
	cfgPath := filepath.Join(tenant, ".git", "config")
	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.WriteFile(cfgPath, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}()
	inside, outside := filepath.Join(tenant, "pwned"), filepath.Join(canaries, "pwned")
	payload := "touch /workspace/pwned " + outside
	tests := []struct {
		name  string
		extra string
		args  []string
	}{
		{"core.fsmonitor", "[core]\n\tfsmonitor = " + payload + "\n", []string{"status"}},
		{"core.hooksPath", "[core]\n\thooksPath = /workspace/hooks\n", []string{"commit", "-m", "x", "--allow-empty"}},
		{"diff.external", "[diff]\n\texternal = " + payload + "\n", []string{"diff"}},
		{"filter clean", "[filter \"x\"]\n\tclean = " + payload + "\n", []string{"add", "README.md"}},
		{"include.path", "[include]\n\tpath = /workspace/evil.cfg\n", []string{"status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(cfgPath, append(append([]byte{}, orig...), tt.extra...), 0o644); err != nil {
				t.Fatal(err)
			}
			text, isErr := call(t, cs, "git", map[string]any{"args": tt.args})
			if !isErr || !strings.Contains(text, "unsafe repository") {
				t.Fatalf("git with a planted %s = %q (error %v), want a refusal", tt.name, text, isErr)
			}
			assertAbsent(t, inside)
			assertAbsent(t, outside)
		})
	}
}

// assertToolAudit checks that every git and exec call left an audit entry
// with its argv summarised (secrets redacted), outcome, duration, bytes
// and, for a process that ran, its exit status; a scope denial names the
// scope and what the key tried to run.
func assertToolAudit(t *testing.T, h *harness, agent, noGit createdKey, secret string) {
	out := h.must("audit", "export", "--json")
	for _, s := range []string{agent.Key, noGit.Key, secret, "hunter2"} {
		if strings.Contains(out, s) {
			t.Fatal("a secret appears in the audit log")
		}
	}
	type entry struct {
		Actor, Action, Target, Outcome string
		Details                        map[string]string
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Action != "tool.call" || (e.Target != "git" && e.Target != "exec") {
			continue
		}
		switch {
		case e.Outcome == "denied" && e.Details["required_scope"] == "":
			t.Fatalf("scope denial without the scope in the audit entry: %+v", e)
		case e.Outcome != "denied" && (e.Details["args"] == "" || e.Details["duration_ms"] == "" || e.Details["bytes"] == ""):
			t.Fatalf("incomplete audit entry %+v", e)
		case e.Outcome == "success" && (e.Details["exit_code"] == "" || e.Details["timed_out"] == "" || e.Details["process_ms"] == ""):
			t.Fatalf("a process ran but its exit status is not audited: %+v", e)
		}
		args, exit := e.Details["args"], e.Details["exit_code"]
		switch {
		case e.Actor == agent.ID && strings.Contains(args, "first commit") && exit == "0":
			seen["git commit"] = true
		case e.Actor == agent.ID && strings.Contains(args, "/usr/bin/printf") && exit == "0":
			seen["exec printf"] = true
		case e.Actor == agent.ID && strings.Contains(args, "--token=[REDACTED]") && exit == "0":
			seen["exec with secret (redacted)"] = true
		case e.Actor == agent.ID && strings.Contains(args, "/bin/echo --password=[REDACTED]") && exit == "0":
			seen["exec with password (redacted)"] = true
		case e.Actor == agent.ID && strings.Contains(args, "no-such-file") && e.Outcome == "success" && exit == "1":
			seen["exec exit 1"] = true
		case e.Actor == agent.ID && strings.Contains(args, "/usr/bin/id") && e.Outcome != "success" && exit == "":
			seen["refused exec"] = true
		case e.Actor == noGit.ID && e.Target == "git" && e.Outcome == "denied" && e.Details["required_scope"] == "tools:git" &&
			strings.Contains(args, "git init -q") && strings.Contains(args, "--template=[REDACTED]"):
			seen["git without scope"] = true
		}
	}
	for _, want := range []string{"git commit", "exec printf", "exec with secret (redacted)", "exec with password (redacted)", "exec exit 1", "refused exec", "git without scope"} {
		if !seen[want] {
			t.Errorf("no audit entry for %s", want)
		}
	}
}

// TestExecShellContainedThroughServe allowlists /bin/sh, the worst
// program an operator could allow, and checks through serve that the
// sandbox still contains it: no write outside the workspace, no
// /etc/shadow, no network, no root, the timeout holds.
func TestExecShellContainedThroughServe(t *testing.T) {
	ws := reachableDir(t, 0o711)
	canaries := reachableDir(t, 0o777)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- struct{}{}
			c.Close()
		}
	}()
	h := toolsServer(t, "  workspace_root: "+ws+`
  fs: {enabled: true}
  fs_write: {enabled: true}
  exec:
    enabled: true
    commands:
      - {path: /bin/sh}
    limits: {timeout: 2s}
`)
	agent := h.createKey("--name", "agent", "--scopes", "tools:fs.read,tools:fs.write,tools:exec")
	h.serve()
	cs, err := mcpConnect(t, h.addr, agent.Key)
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(canaries, "escaped")
	port := ln.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{"write outside the workspace", "touch " + outside + " || echo blocked", "blocked"},
		{"read /etc/shadow", "cat /etc/shadow || echo blocked", "blocked"},
		{"runs as an unprivileged uid", "id -u", "65534"},
		{"workspace writable", "echo made > inside.txt && cat inside.txt", "made"},
		{"no network", "/bin/bash -c 'echo x > /dev/tcp/127.0.0.1/" + strconv.Itoa(port) + "' || echo blocked", "blocked"},
		{"sleep past the timeout", "sleep 30", "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := call(t, cs, "exec", map[string]any{"argv": []string{"/bin/sh", "-c", tt.script}})
			if isErr || !strings.Contains(text, tt.want) {
				t.Fatalf("sh -c %q = %q (error %v), want %q", tt.script, text, isErr, tt.want)
			}
		})
	}
	assertAbsent(t, outside)
	// The file the sandbox wrote is the tenant's, readable by the file tools.
	if text, isErr := call(t, cs, "fs_read", map[string]any{"path": "inside.txt"}); isErr || !strings.Contains(text, "made") {
		t.Fatalf("fs_read of a sandbox-written file = %q (error %v)", text, isErr)
	}
	assertOwner(t, filepath.Join(ws, "default", "inside.txt"), sandboxUID(), 0)
	select {
	case <-conns:
		t.Fatal("the sandbox reached a loopback listener")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestServeRefusesAnUnreachableWorkspaceRoot: as root, git and exec run as
// the sandbox uid, which must be able to walk to the workspace root; serve
// says so in one line at startup instead of failing every call later. As
// an ordinary user the sandbox runs as that user and serve starts.
func TestServeRefusesAnUnreachableWorkspaceRoot(t *testing.T) {
	closed := reachableDir(t, 0o700)
	ws := filepath.Join(closed, "ws")
	if err := os.Mkdir(ws, 0o711); err != nil {
		t.Fatal(err)
	}
	h := toolsServer(t, "  workspace_root: "+ws+"\n  exec:\n    enabled: true\n    commands: [{path: /bin/echo}]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e := &Env{Stdin: strings.NewReader(""), Stdout: h.logs, Stderr: h.logs, Getenv: h.getenv}
	code := Run(ctx, e, []string{"serve"})
	if os.Geteuid() != 0 {
		if listenRe.FindString(h.logs.String()) == "" {
			t.Fatalf("as an ordinary user serve should start: exit %d: %s", code, h.logs.String())
		}
		return
	}
	var line string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "cannot enter") {
			line = l
		}
	}
	if code == 0 || !strings.Contains(line, "uid 65534 cannot enter "+closed) || !strings.Contains(line, "chmod o+x") {
		t.Fatalf("serve with an unreachable workspace root: exit %d, output:\n%s", code, h.logs.String())
	}
}
