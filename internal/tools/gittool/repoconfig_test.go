package gittool

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
)

// plantCanaryScript writes an executable script into the workspace that,
// if ever run (inside the sandbox or, by a bug, on the host), creates a
// canary. It returns the canary paths to check.
func plantCanaryScript(t *testing.T, ws string) []string {
	t.Helper()
	outside := filepath.Join(sandboxtest.OpenDir(t), "canary")
	script := "#!/bin/sh\ntouch /workspace/canary " + filepath.Join(ws, "canary") + " " + outside + " 2>/dev/null\ncat\n"
	writeFile(t, ws, "evil.sh", script, 0o755)
	return []string{filepath.Join(ws, "canary"), outside}
}

// baseRepo makes a workspace repository with one commit and a pending
// change, built by Bulwark itself. Tests build it once and copy it per
// case (every git run starts a sandbox, which is not free).
func baseRepo(t *testing.T, r *Runner) string {
	t.Helper()
	ws := sandboxtest.Workspace(t)
	git(t, r, ws, "init", "-q")
	writeFile(t, ws, "a.txt", "one\n", 0o644)
	writeFile(t, ws, "b.dat", "data\n", 0o644)
	git(t, r, ws, "add", "-A")
	git(t, r, ws, "commit", "-q", "-m", "base")
	writeFile(t, ws, "a.txt", "two\n", 0o644)
	writeFile(t, ws, "b.dat", "more data\n", 0o644)
	return ws
}

// copyRepo copies a workspace made by baseRepo into a fresh one.
func copyRepo(t *testing.T, base string) string {
	t.Helper()
	ws := sandboxtest.Workspace(t)
	if out, err := exec.Command("/bin/cp", "-a", base+"/.", ws).CombinedOutput(); err != nil {
		t.Fatalf("copy base repo: %v: %s", err, out)
	}
	return ws
}

func appendConfig(t *testing.T, ws, text string) {
	t.Helper()
	appendConfigAt(t, filepath.Join(ws, ".git", "config"), text)
}

func appendConfigAt(t *testing.T, file, text string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// plantedConfigs are repository configs that make git run a program.
var plantedConfigs = []struct {
	name, config, attributes string
	forcedCovers             bool // the forced -c values alone neutralise it
}{
	{name: "fsmonitor", config: "[core]\n\tfsmonitor = /workspace/evil.sh\n", forcedCovers: true},
	{name: "hooksPath", config: "[core]\n\thooksPath = /workspace/hook-dir\n", forcedCovers: true},
	{name: "diff.external", config: "[diff]\n\texternal = /workspace/evil.sh\n", forcedCovers: true},
	{name: "pager", config: "[core]\n\tpager = /workspace/evil.sh\n[pager]\n\tlog = /workspace/evil.sh\n", forcedCovers: true},
	{name: "editor", config: "[core]\n\teditor = /workspace/evil.sh\n", forcedCovers: true},
	{name: "sshCommand", config: "[core]\n\tsshCommand = /workspace/evil.sh\n", forcedCovers: true},
	{name: "gpg", config: "[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = /workspace/evil.sh\n", forcedCovers: true},
	{name: "filter clean", config: "[filter \"x\"]\n\tclean = /workspace/evil.sh\n\tsmudge = /workspace/evil.sh\n\trequired = true\n", attributes: "*.dat filter=x\n"},
	{name: "filter process", config: "[filter \"lfs\"]\n\tprocess = /workspace/evil.sh\n", attributes: "* filter=lfs\n"},
	{name: "textconv", config: "[diff \"x\"]\n\ttextconv = /workspace/evil.sh\n\tcommand = /workspace/evil.sh\n", attributes: "*.dat diff=x\n"},
	{name: "include.path", config: "[include]\n\tpath = /workspace/evil.cfg\n"},
	{name: "includeIf", config: "[includeIf \"gitdir:/\"]\n\tpath = /workspace/evil.cfg\n"},
	{name: "alias", config: "[alias]\n\tst = !/workspace/evil.sh\n"},
	{name: "worktree redirect", config: "[core]\n\tworktree = /\n"},
	{name: "url rewrite", config: "[url \"ext::/workspace/evil.sh \"]\n\tinsteadOf = https://\n"},
	{name: "credential helper", config: "[credential]\n\thelper = !/workspace/evil.sh\n"},
	{name: "proxy override", config: "[http \"https://github.com/\"]\n\tproxy = \n"},
	{name: "upload pack", config: "[remote \"origin\"]\n\turl = https://github.com/a/b\n\tuploadpack = /workspace/evil.sh\n"},
}

// commandsOnPlantedRepo are what an agent would run next.
var commandsOnPlantedRepo = [][]string{
	{"status"}, {"diff"}, {"diff", "HEAD"}, {"log", "-p", "-n", "1"}, {"show"},
	{"add", "-A"}, {"commit", "-q", "-m", "planted"},
}

// TestPlantedRepoConfigRefused: Bulwark does not run git at all on a
// repository whose config could run code.
func TestPlantedRepoConfigRefused(t *testing.T) {
	r := newRunner(t, Config{})
	base := baseRepo(t, r)
	for _, tt := range plantedConfigs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := copyRepo(t, base)
			canaries := plantCanaryScript(t, ws)
			writeFile(t, ws, "evil.cfg", "[core]\n\tfsmonitor = /workspace/evil.sh\n", 0o644)
			if tt.attributes != "" {
				writeFile(t, ws, ".gitattributes", tt.attributes, 0o644)
			}
			appendConfig(t, ws, tt.config)
			for _, args := range commandsOnPlantedRepo {
				_, err := r.Run(context.Background(), ws, args)
				if !errors.Is(err, ErrUnsafeRepo) {
					t.Fatalf("git %v on planted repo: err = %v, want ErrUnsafeRepo", args, err)
				}
			}
			for _, c := range canaries {
				sandboxtest.AssertNoFile(t, c)
			}
		})
	}
}

// TestForcedConfigAloneNeutralises skips the repository-config check (an
// internal call) to show the forced -c layer holds by itself for the keys
// it covers, so one layer failing does not run the planted program.
func TestForcedConfigAloneNeutralises(t *testing.T) {
	r := newRunner(t, Config{})
	base := baseRepo(t, r)
	for _, tt := range plantedConfigs {
		if !tt.forcedCovers {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := copyRepo(t, base)
			canaries := plantCanaryScript(t, ws)
			for _, hook := range []string{".git/hooks/pre-commit", ".git/hooks/post-commit", "hook-dir/pre-commit", "hook-dir/post-commit"} {
				writeFile(t, ws, hook, "#!/bin/sh\ntouch /workspace/canary\n", 0o755)
			}
			appendConfig(t, ws, tt.config)
			for _, args := range commandsOnPlantedRepo {
				p, err := ValidateArgs(args)
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.exec(context.Background(), ws, p, args)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(res.Stderr), "evil.sh") {
					t.Fatalf("git %v tried the planted program: %s", args, res.Stderr)
				}
			}
			for _, c := range canaries {
				sandboxtest.AssertNoFile(t, c)
			}
		})
	}
}

func TestRepoLayoutRefused(t *testing.T) {
	r := newRunner(t, Config{})
	tests := []struct {
		name  string
		plant func(t *testing.T, ws string)
	}{
		{"gitdir file", func(t *testing.T, ws string) { writeFile(t, ws, ".git", "gitdir: /etc\n", 0o644) }},
		{"git symlink", func(t *testing.T, ws string) {
			if err := os.Symlink("/etc", filepath.Join(ws, ".git")); err != nil {
				t.Fatal(err)
			}
		}},
		{"config symlink", func(t *testing.T, ws string) {
			if err := os.MkdirAll(filepath.Join(ws, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/passwd", filepath.Join(ws, ".git", "config")); err != nil {
				t.Fatal(err)
			}
		}},
		{"bare", func(t *testing.T, ws string) {
			git(t, r, ws, "init", "-q")
			appendConfig(t, ws, "[core]\n\tbare = true\n")
		}},
		{"unparsable config", func(t *testing.T, ws string) {
			git(t, r, ws, "init", "-q")
			appendConfig(t, ws, "[core\n\tbroken\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := sandboxtest.Workspace(t)
			tt.plant(t, ws)
			if _, err := r.Run(context.Background(), ws, []string{"status"}); !errors.Is(err, ErrUnsafeRepo) {
				t.Fatalf("err = %v, want ErrUnsafeRepo", err)
			}
		})
	}
}

// TestMaliciousSubmodule: a repository whose .gitmodules points at ext::
// and file:// URLs with an update command; nothing it names runs.
func TestMaliciousSubmodule(t *testing.T) {
	r := newRunner(t, Config{Network: NetworkConfig{Enabled: true, AllowHosts: []string{"github.com"}}})
	ws := baseRepo(t, r)
	canaries := plantCanaryScript(t, ws)
	writeFile(t, ws, ".gitmodules", "[submodule \"evil\"]\n\tpath = sub\n\turl = ext::/workspace/evil.sh\n\tupdate = !/workspace/evil.sh\n"+
		"[submodule \"local\"]\n\tpath = sub2\n\turl = file:///etc\n\tupdate = !/workspace/evil.sh\n", 0o644)
	// A checked-out submodule: a nested repository whose own config and
	// attributes would run code if git entered it.
	sub := filepath.Join(ws, "sub")
	hostGit(t, ws, "init", "-q", sub)
	writeFile(t, ws, "sub/x.dat", "x\n", 0o644)
	hostGit(t, sub, "add", "x.dat")
	hostGit(t, sub, "commit", "-q", "-m", "nested")
	writeFile(t, ws, "sub/x.dat", "changed\n", 0o644)
	writeFile(t, ws, "sub/.gitattributes", "* filter=x diff=x\n", 0o644)
	appendConfigAt(t, filepath.Join(sub, ".git", "config"), "[core]\n\tfsmonitor = /workspace/evil.sh\n\thooksPath = /workspace\n"+
		"[filter \"x\"]\n\tclean = /workspace/evil.sh\n\tsmudge = /workspace/evil.sh\n[diff \"x\"]\n\ttextconv = /workspace/evil.sh\n")
	head := strings.TrimSpace(git(t, r, ws, "rev-parse", "HEAD"))
	hostGit(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+head+",sub")
	hostGit(t, ws, "update-index", "--add", "--cacheinfo", "160000,"+head+",sub2")
	sandboxtest.ChownTree(t, ws)
	for _, args := range [][]string{
		{"status"}, {"diff", "--cached"}, {"add", "-A"}, {"commit", "-q", "-m", "with submodules"},
		{"log", "-p", "-n", "2"}, {"show"}, {"checkout", "-q", "HEAD~1"}, {"switch", "-q", "--detach", "HEAD"},
	} {
		res, err := r.Run(context.Background(), ws, args)
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		if res.ExitCode != 0 {
			t.Logf("git %v: exit %d: %s", args, res.ExitCode, res.Stderr)
		}
	}
	for _, args := range [][]string{
		{"submodule", "update", "--init"}, {"pull", "--recurse-submodules"}, {"fetch", "--recurse-submodules=yes"},
	} {
		if _, err := r.Run(context.Background(), ws, args); err == nil {
			t.Fatalf("git %v accepted", args)
		}
	}
	for _, c := range canaries {
		sandboxtest.AssertNoFile(t, c)
	}
}
