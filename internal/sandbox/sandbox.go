// Package sandbox runs one process inside a bubblewrap (bwrap) sandbox with
// resource limits, a wall-clock timeout, an output cap and a guaranteed
// kill of everything it started. It is the lowest layer of Bulwark's git and
// exec tools: whatever argument validation above it misses, the process
// still sees only the system directories (read-only), one writable
// workspace at /workspace, a private /tmp, no network unless asked for, no
// capabilities and a non-root uid.
//
// Limits are applied by /usr/bin/prlimit placed in front of bwrap (bwrap has
// no rlimit flags, and setrlimit in Bulwark's own process would limit
// Bulwark). RLIMIT_NPROC is counted by the kernel per real uid and is not
// enforced for uid 0, so when Bulwark runs as root the sandbox is started
// as Config.RunAsUID (default 65534, "nobody"); the workspace must then be
// writable by that uid.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrUnavailable is returned (wrapped) when bwrap or prlimit is missing or
// cannot build a sandbox on this host. Callers must refuse to run anything
// (fail closed).
var ErrUnavailable = errors.New("sandbox unavailable")

// ErrInvalidSpec is returned (wrapped) when a Spec is malformed: a relative
// workspace, a working directory escaping it, a relative program path.
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// WorkspaceMount is where the workspace appears inside the sandbox.
const WorkspaceMount = "/workspace"

// Defaults applied by New to zero fields.
const (
	DefaultBwrapPath   = "/usr/bin/bwrap"
	DefaultPrlimitPath = "/usr/bin/prlimit"
	DefaultUID         = 65534
	DefaultProcesses   = 128
	DefaultMemory      = 1 << 30
	DefaultFileSize    = 64 << 20
	DefaultCPUSeconds  = 30
	DefaultTimeout     = 30 * time.Second
	DefaultOutputBytes = 1 << 20
)

// Limits bounds one sandboxed run.
type Limits struct {
	// Processes is RLIMIT_NPROC: processes and threads of the sandbox uid.
	// The kernel counts every process of that uid on the host, so when
	// Bulwark itself runs as that uid its own threads count too.
	Processes int
	// MemoryBytes is RLIMIT_AS (address space) per process.
	MemoryBytes uint64
	// FileSizeBytes is RLIMIT_FSIZE: the largest file a process may write.
	FileSizeBytes uint64
	// CPUSeconds is RLIMIT_CPU per process.
	CPUSeconds int
	// Timeout is the wall-clock limit; the whole process group is killed.
	Timeout time.Duration
	// OutputBytes caps stdout and stderr each; the rest is discarded and
	// Result.Truncated set.
	OutputBytes int
}

// Config configures a Sandbox. Zero fields take the defaults above.
type Config struct {
	BwrapPath   string
	PrlimitPath string
	// RunAsUID and RunAsGID are the host ids the sandbox runs as when
	// Bulwark runs as root (ignored otherwise). Never 0.
	RunAsUID, RunAsGID int
	Limits             Limits
}

// Spec describes one process to run.
type Spec struct {
	// Workspace is the absolute host directory mounted read-write at
	// /workspace. It is the only writable host path.
	Workspace string
	// Dir is the working directory relative to the workspace ("" = root).
	Dir string
	// Argv is the program (absolute path as seen inside) and arguments.
	Argv []string
	// Env is the complete environment; nothing is inherited.
	Env []string
	// ShareNet keeps the host network namespace (git network operations,
	// which are forced through Bulwark's checked proxy). Off by default.
	ShareNet bool
	// ReadOnly lists extra host paths bound read-only at the same place,
	// for example /etc/ssl/certs. Missing ones are skipped.
	ReadOnly []string
}

// Result is what a run produced.
type Result struct {
	ExitCode  int
	Stdout    []byte
	Stderr    []byte
	Truncated bool
	TimedOut  bool
	Duration  time.Duration
}

// Sandbox runs processes under a fixed configuration. It is safe for
// concurrent use.
type Sandbox struct {
	cfg    Config
	cred   *syscall.Credential
	filter []byte // seccomp program handed to bwrap on seccompFD
}

// New validates cfg, fills defaults and probes that a sandbox can actually
// be created; it returns an error wrapping ErrUnavailable otherwise.
func New(cfg Config) (*Sandbox, error) {
	s, err := build(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Probe(); err != nil {
		return nil, err
	}
	return s, nil
}

func build(cfg Config) (*Sandbox, error) {
	if cfg.BwrapPath == "" {
		cfg.BwrapPath = DefaultBwrapPath
	}
	if cfg.PrlimitPath == "" {
		cfg.PrlimitPath = DefaultPrlimitPath
	}
	if cfg.RunAsUID == 0 {
		cfg.RunAsUID = DefaultUID
	}
	if cfg.RunAsGID == 0 {
		cfg.RunAsGID = DefaultUID
	}
	if cfg.RunAsUID < 0 || cfg.RunAsGID < 0 {
		return nil, fmt.Errorf("sandbox: run-as uid/gid must be positive: %w", ErrInvalidSpec)
	}
	// A larger id would wrap when converted to the kernel's 32-bit uid_t
	// (1<<32 would become 0, root).
	if int64(cfg.RunAsUID) > math.MaxUint32 || int64(cfg.RunAsGID) > math.MaxUint32 {
		return nil, fmt.Errorf("sandbox: run-as uid/gid must fit in 32 bits: %w", ErrInvalidSpec)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	for _, p := range []string{cfg.BwrapPath, cfg.PrlimitPath} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("sandbox: %q is not an absolute path: %w", p, ErrUnavailable)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("sandbox: %s not executable: %w", p, ErrUnavailable)
		}
	}
	filter, err := hostFilter()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{cfg: cfg, filter: filter}
	if os.Geteuid() == 0 {
		s.cred = &syscall.Credential{Uid: uint32(cfg.RunAsUID), Gid: uint32(cfg.RunAsGID), Groups: []uint32{}}
	}
	return s, nil
}

func (l Limits) withDefaults() Limits {
	if l.Processes <= 0 {
		l.Processes = DefaultProcesses
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = DefaultMemory
	}
	if l.FileSizeBytes == 0 {
		l.FileSizeBytes = DefaultFileSize
	}
	if l.CPUSeconds <= 0 {
		l.CPUSeconds = DefaultCPUSeconds
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = DefaultOutputBytes
	}
	return l
}

// Limits returns the effective limits (defaults applied).
func (s *Sandbox) Limits() Limits { return s.cfg.Limits }

// Probe starts /usr/bin/true in a sandbox without a workspace and reports
// an error wrapping ErrUnavailable if that fails. `bulwark serve` calls it
// at startup when a tool that needs the sandbox is enabled.
func (s *Sandbox) Probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.run(ctx, Spec{Argv: []string{"/usr/bin/true"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		return fmt.Errorf("sandbox: probe: %w: %w", ErrUnavailable, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("sandbox: probe exited %d (%s): %w", res.ExitCode,
			firstLine(res.Stderr), ErrUnavailable)
	}
	return nil
}

// Run executes spec inside the sandbox. A non-zero exit is not an error;
// errors mean the process could not be started or the spec is invalid.
func (s *Sandbox) Run(ctx context.Context, spec Spec) (Result, error) {
	if !filepath.IsAbs(spec.Workspace) {
		return Result{}, fmt.Errorf("sandbox: workspace must be absolute: %w", ErrInvalidSpec)
	}
	fi, err := os.Stat(spec.Workspace)
	if err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("sandbox: workspace is not a directory: %w", ErrInvalidSpec)
	}
	return s.run(ctx, spec)
}

// Argv returns the full host command line (prlimit, bwrap, program) for
// spec. It is exported for documentation and review; Run uses it and
// supplies the seccomp program on descriptor 3, without which bwrap
// refuses to start.
func (s *Sandbox) Argv(spec Spec) ([]string, error) {
	if len(spec.Argv) == 0 || !path.IsAbs(spec.Argv[0]) {
		return nil, fmt.Errorf("sandbox: program must be an absolute path: %w", ErrInvalidSpec)
	}
	dir, err := innerDir(spec.Dir)
	if err != nil {
		return nil, err
	}
	l := s.cfg.Limits
	// --as-pid-1: without it bwrap's own init reports the exit status and
	// the outer bwrap exits before that init is reaped, leaving orphaned
	// zombies of the sandbox uid on the host that count against
	// RLIMIT_NPROC. With it, the program is the namespace's init and the
	// kernel reaps everything left inside when it exits.
	argv := []string{s.cfg.PrlimitPath,
		rlimit("nproc", uint64(l.Processes)), rlimit("as", l.MemoryBytes), //nolint:gosec // G115: withDefaults makes Processes positive
		rlimit("fsize", l.FileSizeBytes), rlimit("cpu", uint64(l.CPUSeconds)), //nolint:gosec // G115: withDefaults makes CPUSeconds positive
		rlimit("core", 0), "--", s.cfg.BwrapPath,
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--uid", strconv.Itoa(DefaultUID), "--gid", strconv.Itoa(DefaultUID),
		"--hostname", "sandbox", "--cap-drop", "ALL",
		"--new-session", "--die-with-parent", "--as-pid-1",
		"--seccomp", strconv.Itoa(seccompFD)}
	if spec.ShareNet {
		argv = append(argv, "--share-net")
	}
	argv = append(argv, systemMounts()...)
	argv = append(argv, "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc")
	// Extra read-only files come after /tmp so a file under /tmp (a test
	// CA, say) is not hidden by the private tmpfs.
	for _, f := range spec.ReadOnly {
		if _, err := os.Stat(f); err == nil && filepath.IsAbs(f) {
			argv = append(argv, "--ro-bind", f, f)
		}
	}
	if spec.Workspace != "" {
		argv = append(argv, "--bind", spec.Workspace, WorkspaceMount)
		argv = append(argv, "--chdir", dir)
	} else {
		argv = append(argv, "--chdir", "/")
	}
	argv = append(argv, "--")
	return append(argv, spec.Argv...), nil
}

func rlimit(name string, v uint64) string {
	n := strconv.FormatUint(v, 10)
	return "--" + name + "=" + n + ":" + n
}

// innerDir maps a workspace-relative directory to its path inside.
func innerDir(dir string) (string, error) {
	if dir == "" || dir == "." {
		return WorkspaceMount, nil
	}
	if path.IsAbs(dir) || strings.ContainsRune(dir, 0) {
		return "", fmt.Errorf("sandbox: dir must be relative to the workspace: %w", ErrInvalidSpec)
	}
	clean := path.Clean(dir)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("sandbox: dir escapes the workspace: %w", ErrInvalidSpec)
	}
	return path.Join(WorkspaceMount, clean), nil
}

// systemMounts binds the directories programs need, read-only. /etc is an
// empty directory with only the dynamic loader cache and alternatives: no
// passwd, shadow, ssh keys or resolver configuration.
func systemMounts() []string {
	args := []string{"--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	args = append(args, "--dir", "/etc")
	for _, f := range []string{"/etc/ld.so.cache", "/etc/alternatives"} {
		if _, err := os.Stat(f); err == nil && filepath.IsAbs(f) {
			args = append(args, "--ro-bind", f, f)
		}
	}
	return args
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
