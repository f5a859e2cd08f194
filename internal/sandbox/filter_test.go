package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// probeDir holds sysprobe (testdata/sysprobe), built once by TestMain and
// bound read-only into the sandboxes that run it.
var probeDir string

func TestMain(m *testing.M) {
	code, err := runWithProbe(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build sysprobe:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func runWithProbe(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "bulwark-sysprobe-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// The sandbox uid (65534 when the tests run as root) must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sysprobe"), "./testdata/sysprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	probeDir = dir
	return m.Run(), nil
}

// filterCases: each call sysprobe makes, and what it gets inside the
// sandbox. sysprobe passes bad descriptors, pointers or flags, so without
// the filter the kernel answers EBADF, EFAULT, EINVAL, ENOTTY, ENOSYS or
// succeeds harmlessly; TestSeccompControl shows that, except for the
// calls marked kernelMayRefuse, which the kernel may refuse with EPERM
// too, for the capabilities the sandbox drops or by a sysctl (the filter
// is then a second wall; its rule is proven by the seccomp package's VM
// tests).
var filterCases = []struct {
	name            string
	want            string
	kernelMayRefuse bool
}{
	{name: "ptrace", want: "EPERM"},
	{name: "process_vm_readv", want: "EPERM"},
	{name: "process_vm_writev", want: "EPERM"},
	{name: "kcmp", want: "EPERM"},
	{name: "pidfd_getfd", want: "EPERM"},
	{name: "mount", want: "EPERM"},
	{name: "umount2", want: "EPERM"},
	{name: "pivot_root", want: "EPERM", kernelMayRefuse: true},
	{name: "chroot", want: "EPERM"},
	{name: "unshare", want: "EPERM"},
	{name: "unshare-bad", want: "EPERM"},
	{name: "setns", want: "EPERM"},
	{name: "open_tree", want: "EPERM"},
	{name: "move_mount", want: "EPERM", kernelMayRefuse: true},
	{name: "fsopen", want: "EPERM", kernelMayRefuse: true},
	{name: "fsconfig", want: "EPERM"},
	{name: "fsmount", want: "EPERM", kernelMayRefuse: true},
	{name: "fspick", want: "EPERM", kernelMayRefuse: true},
	{name: "mount_setattr", want: "EPERM"},
	{name: "clone-newuser", want: "EPERM"},
	{name: "clone-newnet", want: "EPERM"},
	{name: "clone-plain", want: "EINVAL"},
	{name: "clone3", want: "ENOSYS"},
	{name: "kexec_load", want: "EPERM", kernelMayRefuse: true},
	{name: "kexec_file_load", want: "EPERM", kernelMayRefuse: true},
	{name: "init_module", want: "EPERM", kernelMayRefuse: true},
	{name: "finit_module", want: "EPERM", kernelMayRefuse: true},
	{name: "delete_module", want: "EPERM", kernelMayRefuse: true},
	{name: "bpf", want: "EPERM", kernelMayRefuse: true},
	{name: "perf_event_open", want: "EPERM"},
	{name: "userfaultfd", want: "EPERM"},
	{name: "io_uring_setup", want: "EPERM", kernelMayRefuse: true},
	{name: "io_uring_enter", want: "EPERM"},
	{name: "io_uring_register", want: "EPERM"},
	{name: "keyctl", want: "EPERM"},
	{name: "add_key", want: "EPERM"},
	{name: "request_key", want: "EPERM"},
	{name: "acct", want: "EPERM", kernelMayRefuse: true},
	{name: "swapon", want: "EPERM", kernelMayRefuse: true},
	{name: "swapoff", want: "EPERM", kernelMayRefuse: true},
	{name: "reboot", want: "EPERM", kernelMayRefuse: true},
	{name: "settimeofday", want: "EPERM"},
	{name: "clock_settime", want: "EPERM"},
	{name: "clock_adjtime", want: "EPERM"},
	{name: "adjtimex", want: "EPERM"},
	{name: "quotactl", want: "EPERM"},
	{name: "quotactl_fd", want: "EPERM"},
	{name: "syslog", want: "EPERM", kernelMayRefuse: true},
	{name: "vhangup", want: "EPERM", kernelMayRefuse: true},
	{name: "fanotify_init", want: "EPERM", kernelMayRefuse: true},
	{name: "nfsservctl", want: "EPERM"},
	{name: "lookup_dcookie", want: "EPERM"},
	{name: "open_by_handle_at", want: "EPERM", kernelMayRefuse: true},
	{name: "name_to_handle_at", want: "EPERM"},
	{name: "mbind", want: "EPERM"},
	{name: "migrate_pages", want: "EPERM"},
	{name: "move_pages", want: "EPERM"},
	{name: "get_mempolicy", want: "EPERM"},
	{name: "set_mempolicy", want: "EPERM"},
	{name: "personality-bsd", want: "EPERM"},
	{name: "personality-query", want: "ok"},
	{name: "ioctl-tiocsti", want: "EPERM"},
	{name: "ioctl-tiocsti-hi", want: "EPERM"},
	{name: "ioctl-tioclinux", want: "EPERM"},
	{name: "ioctl-tcgets", want: "ENOTTY"},
	{name: "socket-unix", want: "EINVAL"},
	{name: "socket-inet", want: "EINVAL"},
	{name: "socket-inet6", want: "EINVAL"},
	{name: "socket-netlink", want: "EINVAL"},
	{name: "socket-packet", want: "EAFNOSUPPORT"},
	{name: "socket-alg", want: "EAFNOSUPPORT"},
	{name: "socket-vsock", want: "EAFNOSUPPORT"},
	{name: "socket-vsock-hi", want: "EAFNOSUPPORT"},
	{name: "socketpair-unix", want: "EINVAL"},
	{name: "socketpair-inet", want: "EAFNOSUPPORT"},
	// bwrap closed the descriptor it read the filter from.
	{name: "fd3", want: "EBADF"},
	{name: "getpid", want: "ok"},
}

// allowedCases are calls the filter lets through: their result is the
// kernel's, the same with and without it.
var allowedCases = []string{"clone-plain", "personality-query", "ioctl-tcgets", "fd3", "getpid",
	"socket-unix", "socket-inet", "socket-inet6", "socket-netlink", "socketpair-unix"}

func probeSpec(t *testing.T, calls ...string) Spec {
	t.Helper()
	// probeDir is the workspace: readable, not writable, by the sandbox.
	return Spec{Workspace: probeDir, Argv: append([]string{WorkspaceMount + "/sysprobe"}, calls...),
		Env: []string{"PATH=/usr/bin:/bin"}}
}

func probeNames() []string {
	names := make([]string, 0, len(filterCases))
	for _, tt := range filterCases {
		names = append(names, tt.name)
	}
	return names
}

// parseProbe reads sysprobe's "name=result" lines.
func parseProbe(t *testing.T, out []byte) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

func newSandbox(t *testing.T) *Sandbox {
	t.Helper()
	s, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v (is bubblewrap installed?)", err)
	}
	return s
}

// TestSeccompDenies: every denied call class fails inside the sandbox
// with the filter's errno, observed by a real process.
func TestSeccompDenies(t *testing.T) {
	s := newSandbox(t)
	res, err := s.Run(context.Background(), probeSpec(t, probeNames()...))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("sysprobe: err %v, exit %d, stderr %q", err, res.ExitCode, res.Stderr)
	}
	got := parseProbe(t, res.Stdout)
	for _, tt := range filterCases {
		t.Run(tt.name, func(t *testing.T) {
			if got[tt.name] != tt.want {
				t.Fatalf("%s = %q inside the sandbox, want %s", tt.name, got[tt.name], tt.want)
			}
		})
	}
}

// unfilteredRun runs spec under the same bwrap command line minus the
// seccomp filter. Only this test can do that: the production path has no
// way to drop the filter.
func unfilteredRun(t *testing.T, s *Sandbox, spec Spec) (string, int) {
	t.Helper()
	argv, err := s.Argv(spec)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(argv, "--seccomp")
	if i < 0 {
		t.Fatal("argv has no --seccomp")
	}
	argv = slices.Delete(argv, i, i+2)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestSeccompControl: without the filter the same calls get the kernel's
// own answer, so TestSeccompDenies observes the filter and not merely the
// sandbox's missing capabilities.
func TestSeccompControl(t *testing.T) {
	s := newSandbox(t)
	out, code := unfilteredRun(t, s, probeSpec(t, probeNames()...))
	if code != 0 {
		t.Fatalf("unfiltered sysprobe exited %d: %s", code, out)
	}
	got := parseProbe(t, []byte(out))
	for _, tt := range filterCases {
		t.Run(tt.name, func(t *testing.T) {
			allowed := slices.Contains(allowedCases, tt.name)
			switch {
			case allowed && got[tt.name] != tt.want:
				t.Fatalf("allowed call %s = %q without the filter, %q with it", tt.name, got[tt.name], tt.want)
			case !allowed && !tt.kernelMayRefuse && got[tt.name] == tt.want:
				t.Fatalf("%s = %q without the filter too: the test does not observe the filter", tt.name, got[tt.name])
			}
		})
	}
}

// TestSeccompKillsForeignABI: a system call through the x32 ABI kills the
// process with SIGSYS; without the filter the process survives (ENOSYS or
// getpid's answer). The architecture check (an i386 int 0x80 call) cannot
// be provoked reliably (some hypervisors fault it before seccomp runs);
// the seccomp package proves it in the BPF VM.
func TestSeccompKillsForeignABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Fatalf("no foreign-ABI probe for %s: add one to testdata/sysprobe", runtime.GOARCH)
	}
	s := newSandbox(t)
	for _, name := range []string{"x32"} {
		t.Run(name, func(t *testing.T) {
			res, err := s.Run(context.Background(), probeSpec(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 128+int(syscall.SIGSYS) || strings.Contains(string(res.Stdout), "survived") {
				t.Fatalf("exit %d, stdout %q: want killed by SIGSYS", res.ExitCode, res.Stdout)
			}
			out, code := unfilteredRun(t, s, probeSpec(t, name))
			if code == 128+int(syscall.SIGSYS) {
				t.Fatalf("killed by SIGSYS without the filter too (%q): the test does not observe it", out)
			}
		})
	}
}

// TestSeccompRealPrograms: real tools see a plain "Operation not
// permitted" for what the filter refuses ("Address family not supported"
// for a socket family), and their ordinary work (a shell with pipes and
// forks, coreutils, git with a local clone through upload-pack, IP and
// local sockets) still succeeds.
func TestSeccompRealPrograms(t *testing.T) {
	s := newSandbox(t)
	ws := writableWorkspace(t)
	env := []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	tests := []struct {
		name     string
		argv     []string
		wantExit int
		want     string // in stdout+stderr
	}{
		{name: "unshare refused", argv: []string{"/usr/bin/unshare", "-r", "/usr/bin/true"},
			wantExit: 1, want: "Operation not permitted"},
		{name: "shell pipes and forks", argv: []string{"/bin/sh", "-c", "echo hello | cat | tr a-z A-Z; ls /usr >/dev/null && echo listed"},
			want: "HELLO\nlisted"},
		{name: "git init and commit", argv: []string{"/bin/sh", "-c",
			"git init -q repo && cd repo && echo x > f && git add f && git commit -qm first && git log --oneline && git status --short"},
			want: "first"},
		{name: "git clone through upload-pack", argv: []string{"/bin/sh", "-c",
			"git clone -q --no-local file:///workspace/repo copy && git -C copy log --format=%s"},
			want: "first"},
		{name: "vsock refused as an unsupported family", argv: []string{"/usr/bin/python3", "-c",
			"import socket\ntry:\n socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\nexcept OSError as e:\n print(e.strerror)"},
			want: "Address family not supported"},
		{name: "ip and unix sockets still open", argv: []string{"/usr/bin/python3", "-c",
			"import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n" +
				"a, b = socket.socketpair(); a.send(b'x'); print('bound', b.recv(1).decode())"},
			want: "bound x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Run(context.Background(), Spec{Workspace: ws, Argv: tt.argv, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Stdout) + string(res.Stderr)
			if res.ExitCode != tt.wantExit || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d (want %d), output %q (want %q)", res.ExitCode, tt.wantExit, out, tt.want)
			}
		})
	}
}

// writableWorkspace is a directory the sandbox uid can write (the
// sandboxtest helper imports this package, so it cannot be used here).
func writableWorkspace(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bulwark-seccomp-ws-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, DefaultUID, DefaultUID); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSeccompMissingFDFailsClosed: the command line names the filter's
// descriptor, so anyone who runs it without one (Run always supplies it)
// gets no sandboxed process at all rather than an unfiltered one.
func TestSeccompMissingFDFailsClosed(t *testing.T) {
	s := newSandbox(t)
	argv, err := s.Argv(probeSpec(t, "getpid"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "getpid=") {
		t.Fatalf("ran without a seccomp descriptor: err %v, output %q", err, out)
	}
}
