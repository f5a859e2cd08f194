package gittool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
)

// Repository config is the one input git reads that the model controls
// completely (it can write any file in the workspace). Rather than
// neutralise the dangerous keys one by one (a denylist that a new git
// release can outgrow), Bulwark reads .git/config with git's own parser and
// refuses to run when it holds any key outside this allowlist. None of the
// allowed keys names a program, a path outside the repository, another
// config file, a proxy or a credential.
var (
	safeRepoKeys = map[string]bool{
		"core.repositoryformatversion": true,
		"core.filemode":                true,
		"core.bare":                    true,
		"core.logallrefupdates":        true,
		"core.ignorecase":              true,
		"core.precomposeunicode":       true,
		"core.symlinks":                true,
		"core.autocrlf":                true,
		"core.eol":                     true,
		"core.safecrlf":                true,
		"user.name":                    true,
		"user.email":                   true,
	}
	// remote.<name>.{url,pushurl,fetch} and branch.<name>.{remote,merge}.
	safeRepoKeyRe = regexp.MustCompile(`^(remote\.[A-Za-z0-9_][A-Za-z0-9_.-]*\.(url|pushurl|fetch)|branch\.[A-Za-z0-9_][A-Za-z0-9_./-]*\.(remote|merge))$`)
)

// repoConfig is the parsed repository config: key → values.
type repoConfig map[string][]string

// checkRepo verifies that ws/.git, if present, is a plain directory whose
// config holds only allowlisted keys, and returns that config.
func (r *Runner) checkRepo(ctx context.Context, ws string) (repoConfig, error) {
	gitDir := filepath.Join(ws, ".git")
	fi, err := os.Lstat(gitDir)
	if os.IsNotExist(err) {
		return repoConfig{}, nil
	}
	if err != nil || !fi.IsDir() {
		// A .git file (gitdir: pointer) or symlink would send git elsewhere.
		return nil, fmt.Errorf("%w: .git is not a plain directory", ErrUnsafeRepo)
	}
	cfgFile := filepath.Join(gitDir, "config")
	if fi, err := os.Lstat(cfgFile); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: .git/config is not a regular file", ErrUnsafeRepo)
	} else if os.IsNotExist(err) {
		return repoConfig{}, nil
	}
	res, err := r.box.Run(ctx, sandbox.Spec{
		Workspace: ws,
		Argv: []string{r.gitPath, "config", "--file", sandbox.WorkspaceMount + "/.git/config",
			"--no-includes", "--list", "-z"},
		Env: r.baseEnv(false),
	})
	if err != nil {
		return nil, fmt.Errorf("gittool: read repo config: %w", err)
	}
	if res.ExitCode != 0 || res.Truncated {
		return nil, fmt.Errorf("%w: .git/config cannot be parsed", ErrUnsafeRepo)
	}
	return parseRepoConfig(res.Stdout)
}

// parseRepoConfig reads `git config --list -z` output ("key\nvalue\0")
// and refuses any key outside the allowlist.
func parseRepoConfig(out []byte) (repoConfig, error) {
	cfg := repoConfig{}
	for _, entry := range bytes.Split(out, []byte{0}) {
		if len(entry) == 0 {
			continue
		}
		key, val, _ := strings.Cut(string(entry), "\n")
		if !safeRepoKey(key) {
			return nil, fmt.Errorf("%w: .git/config sets %q, which Bulwark does not allow", ErrUnsafeRepo, truncate(key, 80))
		}
		if key == "core.bare" && val != "false" {
			return nil, fmt.Errorf("%w: bare repositories are not supported", ErrUnsafeRepo)
		}
		cfg[key] = append(cfg[key], val)
	}
	return cfg, nil
}

// safeRepoKey reports whether a key (as git lists it: section and name
// lower-cased, subsection verbatim) is allowlisted.
func safeRepoKey(key string) bool {
	return safeRepoKeys[key] || safeRepoKeyRe.MatchString(key)
}

// remoteURLs returns every URL git may contact for remote (a name or a
// URL).
func (c repoConfig) remoteURLs(remote string) []string {
	if strings.HasPrefix(remote, "https://") {
		return []string{remote}
	}
	return append(append([]string{}, c["remote."+remote+".url"]...), c["remote."+remote+".pushurl"]...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
