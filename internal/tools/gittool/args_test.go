package gittool

import (
	"errors"
	"path"
	"strings"
	"testing"
)

var validateCases = []struct {
	name string
	args []string
	ok   bool
}{
	{"status", []string{"status", "--porcelain=v2", "--", "src"}, true},
	{"status untracked", []string{"status", "--untracked-files=all"}, true},
	{"log format", []string{"log", "--format=%h %an <%ae> %s", "-n", "10", "main", "--", "docs/x.md"}, true},
	{"log range", []string{"log", "--oneline", "main..feature"}, true},
	{"log pretty name", []string{"log", "--pretty=fuller"}, true},
	{"log since", []string{"log", "--since=2 weeks ago"}, true},
	{"show rev:path", []string{"show", "HEAD~2:src/main.go"}, true},
	{"diff two revs", []string{"diff", "HEAD~1", "HEAD", "--stat"}, true},
	{"add all", []string{"add", "-A"}, true},
	{"commit message with dashes", []string{"commit", "-m", "--upload-pack=x is just text"}, true},
	{"branch create", []string{"branch", "feature/x", "main"}, true},
	{"switch create", []string{"switch", "-c", "fix-1"}, true},
	{"restore source", []string{"restore", "--source=HEAD~1", "--", "a.txt"}, true},
	{"init branch", []string{"init", "--initial-branch=main"}, true},
	{"clone", []string{"clone", "--depth=1", "https://github.com/org/repo.git", "repo"}, true},
	{"fetch refspec", []string{"fetch", "origin", "+main:refs/remotes/origin/main"}, true},
	{"push", []string{"push", "--set-upstream", "origin", "feature"}, true},
	{"rev-parse", []string{"rev-parse", "--abbrev-ref", "HEAD"}, true},
	{"ls-files", []string{"ls-files", "--others", "--exclude-standard"}, true},

	{"upload-pack", []string{"clone", "--upload-pack=touch /tmp/canary", "https://github.com/a/b"}, false},
	{"upload-pack as -u", []string{"fetch", "-u", "x"}, false},
	{"receive-pack", []string{"push", "--receive-pack=x"}, false},
	{"exec", []string{"push", "--exec=x"}, false},
	{"-c before subcommand", []string{"-c", "core.sshCommand=x", "fetch"}, false},
	{"config", []string{"clone", "--config", "core.sshCommand=x", "https://github.com/a/b"}, false},
	{"config-env", []string{"fetch", "--config-env=a=b"}, false},
	{"git-dir", []string{"status", "--git-dir=/"}, false},
	{"work-tree", []string{"status", "--work-tree=/"}, false},
	{"namespace", []string{"log", "--namespace=x"}, false},
	{"template", []string{"init", "--template=x"}, false},
	{"separate-git-dir", []string{"init", "--separate-git-dir=x"}, false},
	{"ext", []string{"fetch", "ext::sh -c touch% /tmp/canary"}, false},
	{"file", []string{"clone", "file:///etc"}, false},
	{"fd", []string{"fetch", "fd::0"}, false},
	{"output", []string{"log", "--output=/tmp/x"}, false},
	{"ext-diff", []string{"diff", "--ext-diff"}, false},
	{"textconv", []string{"show", "--textconv"}, false},
	{"no-index", []string{"diff", "--no-index", "a", "b"}, false},
	{"flag with value", []string{"log", "--oneline=x"}, false},
	{"value flag without value", []string{"log", "-n"}, false},
	{"valueEq flag split", []string{"log", "--format", "%h"}, false},
	{"count not a number", []string{"log", "-n", "5; id"}, false},
	{"rev starting with dash after --", []string{"log", "--", "--output=x"}, false},
	{"ref with ..", []string{"branch", "a..b"}, true},
	{"branch name bad", []string{"switch", "-c", "a..b"}, false},
	{"branch name lock", []string{"switch", "-c", "x.lock"}, false},
	{"refspec delete", []string{"push", "origin", ":main"}, false},
	{"url with query", []string{"clone", "https://github.com/a/b?x=1"}, false},
	{"url with percent", []string{"clone", "https://git%68ub.com/a"}, false},
	{"url with backslash", []string{"clone", "https://evil.example\\@github.com/a"}, false},
	{"init positional", []string{"init", "/tmp/x"}, false},
	{"two clone dirs", []string{"clone", "https://github.com/a/b", "x", "y"}, false},
	{"nul", []string{"log", "a\x00b"}, false},
	{"pathspec magic after --", []string{"add", "--", ":(exclude)x"}, false},
	{"dotgit case", []string{"add", ".GIT/config"}, false},
	{"empty path", []string{"add", ""}, false},
	{"status -u", []string{"status", "-u"}, false},
}

func TestValidateArgs(t *testing.T) {
	for _, tt := range validateCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ValidateArgs(tt.args)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrArgsRejected) {
				t.Fatalf("err = %v, want ErrArgsRejected", err)
			}
		})
	}
}

// dangerous are option names and transport prefixes that must never reach
// git from a caller, whatever else the argv holds.
var dangerous = []string{"--upload-pack", "--receive-pack", "-u", "--exec", "-c", "--config",
	"--config-env", "--git-dir", "--work-tree", "--namespace", "--template", "--separate-git-dir",
	"--output", "--ext-diff", "--textconv", "--no-index", "--reference", "--recurse-submodules",
	"-C", "--exec-path", "--super-prefix", "-F", "--file", "--upload-archive"}

// valueOpts take the next argument as free text or a name.
var valueOpts = map[string]bool{"-m": true, "-n": true, "-b": true, "-c": true, "--create": true, "--branch": true}

// FuzzValidateGitArgs: whatever is accepted has an allowlisted
// subcommand, no dangerous option in option position, no transport
// other than https and no path escaping the workspace.
func FuzzValidateGitArgs(f *testing.F) {
	for _, tt := range validateCases {
		f.Add(strings.Join(tt.args, "\x1f"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x1f")
		p, err := ValidateArgs(args)
		if err != nil {
			if !errors.Is(err, ErrArgsRejected) {
				t.Fatalf("refusal does not wrap ErrArgsRejected: %v", err)
			}
			return
		}
		if _, ok := commands[p.Sub]; !ok || p.Sub != args[0] {
			t.Fatalf("accepted subcommand %q", args[0])
		}
		afterDD := false
		for i := 1; i < len(args); i++ {
			a := args[i]
			if afterDD {
				c := path.Clean(a)
				if strings.HasPrefix(a, "/") || strings.HasPrefix(a, "-") || strings.HasPrefix(a, ":") || c == ".." || strings.HasPrefix(c, "../") {
					t.Fatalf("accepted path %q", a)
				}
				continue
			}
			if a == "--" {
				afterDD = true
				continue
			}
			if valueOpts[a] && p.Sub != "clone" && p.Sub != "fetch" && p.Sub != "push" {
				i++ // its value is data
				continue
			}
			name, _, _ := strings.Cut(a, "=")
			for _, d := range dangerous {
				// -c means something harmless to switch and ls-files.
				harmlessHere := d == "-c" && (p.Sub == "switch" || p.Sub == "ls-files")
				if name == d && !harmlessHere {
					t.Fatalf("accepted dangerous option %q in %q", a, args)
				}
			}
			if strings.HasPrefix(name, "--message") || strings.HasPrefix(name, "--grep") || strings.HasPrefix(name, "--format") || strings.HasPrefix(name, "--pretty") {
				continue
			}
			low := strings.ToLower(a)
			for _, tr := range []string{"::", "file:", "ssh:", "git:", "http:", "@"} {
				// "@" outside a URL is a ref (HEAD@{1}), not user@host.
				bareAt := tr == "@" && !strings.Contains(low, "://")
				if strings.Contains(low, tr) && !bareAt {
					t.Fatalf("accepted transport %q in %q", a, args)
				}
			}
		}
	})
}
