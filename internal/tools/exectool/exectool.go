// Package exectool runs operator-allowlisted programs for agents. A program
// is named by its absolute path and run from an argv array (never a shell)
// with an environment built from scratch, inside a bubblewrap sandbox
// (package sandbox): no network, no capabilities, a non-root uid, the
// system directories read-only, the workspace as the only writable path,
// and limits on processes, memory, file size, CPU time, wall time and
// output. If the sandbox cannot be created the tool refuses to run.
package exectool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
)

// Errors callers branch on (all returned wrapped).
var (
	// ErrSandboxUnavailable means bwrap/prlimit is missing or cannot build a
	// sandbox here; nothing is run.
	ErrSandboxUnavailable = sandbox.ErrUnavailable
	// ErrCommandNotAllowed means argv[0] is not an allowlisted absolute path.
	ErrCommandNotAllowed = errors.New("exec: command not allowed")
	// ErrArgumentRejected means an argument failed the command's pattern or
	// the size bounds.
	ErrArgumentRejected = errors.New("exec: argument rejected")
	// ErrInvalidConfig means the operator configuration is unusable.
	ErrInvalidConfig = errors.New("exec: invalid config")
)

// Bounds on one call's argv.
const (
	maxArgs   = 256
	maxArgLen = 32 << 10
)

// Command is one allowlisted program.
type Command struct {
	// Path is the absolute path of the program, as on the host; it must
	// live under /usr, /bin or /sbin (what the sandbox mounts).
	Path string
	// ArgsPattern, if set, is a regular expression every argument must
	// match in full (it is anchored as ^(?:pattern)$). Empty allows any
	// argument within the size bounds.
	ArgsPattern string
}

// Config configures a Runner.
type Config struct {
	// Commands is the allowlist; empty means nothing may run.
	Commands []Command
	// Sandbox configures bwrap, prlimit and the limits.
	Sandbox sandbox.Config
}

// Result is what a run produced.
type Result = sandbox.Result

// Runner runs allowlisted commands in the sandbox. It is safe for
// concurrent use.
type Runner struct {
	commands map[string]*Matcher
	box      *sandbox.Sandbox
}

// New validates cfg and probes the sandbox once. It fails with an error
// wrapping ErrSandboxUnavailable when the sandbox cannot be created.
func New(cfg Config) (*Runner, error) {
	r := &Runner{commands: make(map[string]*Matcher, len(cfg.Commands))}
	for _, c := range cfg.Commands {
		if err := checkProgram(c.Path); err != nil {
			return nil, err
		}
		m, err := NewMatcher(c.ArgsPattern)
		if err != nil {
			return nil, fmt.Errorf("exec: command %s: %w", c.Path, err)
		}
		r.commands[c.Path] = m
	}
	box, err := sandbox.New(cfg.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	r.box = box
	return r, nil
}

// checkProgram accepts only clean absolute paths of executables inside the
// directories the sandbox mounts read-only, so the program cannot be
// replaced from the workspace.
func checkProgram(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("%w: command path %q must be clean and absolute", ErrInvalidConfig, p)
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("%w: command %q: %w", ErrInvalidConfig, p, err)
	}
	if !strings.HasPrefix(resolved, "/usr/") && !strings.HasPrefix(resolved, "/bin/") && !strings.HasPrefix(resolved, "/sbin/") {
		return fmt.Errorf("%w: command %q is outside /usr, /bin and /sbin", ErrInvalidConfig, p)
	}
	fi, err := os.Stat(resolved)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%w: command %q is not an executable file", ErrInvalidConfig, p)
	}
	return nil
}

// Probe re-checks that the sandbox can be created; `bulwark serve` calls
// it at startup when the tool is enabled.
func (r *Runner) Probe() error { return r.box.Probe() }

// Limits returns the effective sandbox limits.
func (r *Runner) Limits() sandbox.Limits { return r.box.Limits() }

// Run runs argv in the workspace root. See RunDir.
func (r *Runner) Run(ctx context.Context, workspaceDir string, argv []string) (Result, error) {
	return r.RunDir(ctx, workspaceDir, "", argv)
}

// RunDir runs argv with dir (relative to the workspace) as working
// directory. argv[0] must be exactly an allowlisted path: names are never
// looked up in PATH. A non-zero exit status is reported in Result, not as
// an error.
func (r *Runner) RunDir(ctx context.Context, workspaceDir, dir string, argv []string) (Result, error) {
	if len(argv) == 0 {
		return Result{}, fmt.Errorf("%w: empty argv", ErrCommandNotAllowed)
	}
	m, ok := r.commands[argv[0]]
	if !ok {
		return Result{}, fmt.Errorf("%w: %s", ErrCommandNotAllowed, sandbox.Summary(argv[:1]))
	}
	if err := m.Match(argv[1:]); err != nil {
		return Result{}, err
	}
	ws, err := filepath.Abs(workspaceDir)
	if err != nil {
		return Result{}, fmt.Errorf("exec: workspace: %w", err)
	}
	res, err := r.box.Run(ctx, sandbox.Spec{
		Workspace: ws, Dir: dir, Argv: argv,
		Env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LC_ALL=C", "LANG=C"},
	})
	if err != nil {
		return res, fmt.Errorf("exec: %w", err)
	}
	return res, nil
}

// Summary renders argv for an audit entry with secrets redacted.
func Summary(args []string) string { return sandbox.Summary(args) }

// Matcher checks the arguments of one command. It is immutable and safe
// for concurrent use.
type Matcher struct {
	re *regexp.Regexp // nil: any argument within bounds
}

// NewMatcher compiles pattern anchored at both ends; "" matches anything.
func NewMatcher(pattern string) (*Matcher, error) {
	if pattern == "" {
		return &Matcher{}, nil
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%w: args pattern: %w", ErrInvalidConfig, err)
	}
	return &Matcher{re: re}, nil
}

// Match reports an error wrapping ErrArgumentRejected unless every
// argument matches in full and the argv is within bounds. Arguments are
// never echoed back, as they may hold secrets.
func (m *Matcher) Match(args []string) error {
	if len(args) > maxArgs {
		return fmt.Errorf("%w: more than %d arguments", ErrArgumentRejected, maxArgs)
	}
	for i, a := range args {
		if len(a) > maxArgLen || strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: argument %d too long or contains NUL", ErrArgumentRejected, i+1)
		}
		if m.re != nil && !m.re.MatchString(a) {
			return fmt.Errorf("%w: argument %d does not match the allowed pattern", ErrArgumentRejected, i+1)
		}
	}
	return nil
}
