package gittool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
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

// maxRepoConfig bounds the repository config Bulwark will parse.
const maxRepoConfig = 1 << 20

// checkRepo verifies that ws/.git, if present, is a plain directory whose
// config holds only allowlisted keys, and returns that config. The file is
// opened through os.Root (no symlink may lead out of the workspace) and
// parsed by `git config --file - --no-includes --list -z` fed on stdin:
// parsing config runs no program and reads no other file.
func (r *Runner) checkRepo(ctx context.Context, ws string) (repoConfig, error) {
	root, err := os.OpenRoot(ws)
	if err != nil {
		return nil, fmt.Errorf("git: workspace: %w", err)
	}
	defer func() { _ = root.Close() }() // read-only access: nothing to lose on close
	fi, err := root.Lstat(".git")
	if errors.Is(err, fs.ErrNotExist) {
		return repoConfig{}, nil
	}
	if err != nil || !fi.IsDir() {
		// A .git file (gitdir: pointer) or symlink would send git elsewhere.
		return nil, fmt.Errorf("%w: .git is not a plain directory", ErrUnsafeRepo)
	}
	if fi, err := root.Lstat(".git/config"); errors.Is(err, fs.ErrNotExist) {
		return repoConfig{}, nil
	} else if err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: .git/config is not a regular file", ErrUnsafeRepo)
	}
	f, err := root.OpenFile(".git/config", os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: .git/config cannot be opened", ErrUnsafeRepo)
	}
	defer func() { _ = f.Close() }() // opened read-only
	data, err := io.ReadAll(io.LimitReader(f, maxRepoConfig+1))
	if err != nil || len(data) > maxRepoConfig {
		return nil, fmt.Errorf("%w: .git/config unreadable or too large", ErrUnsafeRepo)
	}
	return r.parseConfig(ctx, data)
}

// parseConfig runs git's own config parser on data, so Bulwark and git
// cannot disagree on what the file says.
func (r *Runner) parseConfig(ctx context.Context, data []byte) (repoConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// gitPath is the operator's, checked clean, absolute and executable by
	// New; every argument is a constant and the data goes in on stdin.
	cmd := exec.CommandContext(ctx, r.gitPath, "config", "--file", "-", "--no-includes", "--list", "-z") //nolint:gosec // G204: see above
	cmd.Env = r.baseEnv(false)
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: .git/config cannot be parsed", ErrUnsafeRepo)
	}
	return parseRepoConfig(out)
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
// URL). With no remote named (explicit == false) git may pick one from
// branch.<name>.remote, so every remote and URL the config names counts.
func (c repoConfig) remoteURLs(remote string, explicit bool) []string {
	if strings.HasPrefix(remote, "https://") {
		return []string{remote}
	}
	if !explicit {
		var urls []string
		for k, vs := range c {
			switch {
			case strings.HasPrefix(k, "remote.") && (strings.HasSuffix(k, ".url") || strings.HasSuffix(k, ".pushurl")):
				urls = append(urls, vs...)
			case strings.HasPrefix(k, "branch.") && strings.HasSuffix(k, ".remote"):
				for _, v := range vs {
					if v != "." {
						urls = append(urls, c.remoteURLs(v, true)...)
					}
				}
			}
		}
		return urls
	}
	urls := append(append([]string{}, c["remote."+remote+".url"]...), c["remote."+remote+".pushurl"]...)
	if len(urls) == 0 && strings.Contains(remote, ":") {
		return []string{remote} // not a name: let the URL check refuse it
	}
	return urls
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
