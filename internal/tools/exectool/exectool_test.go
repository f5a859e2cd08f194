package exectool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
)

// newRunner builds a Runner over real bwrap. It fails (never skips) when
// the sandbox is unavailable: CI installs bubblewrap.
func newRunner(t *testing.T, lim sandbox.Limits, cmds ...Command) *Runner {
	t.Helper()
	r, err := New(Config{Commands: cmds, Sandbox: sandbox.Config{Limits: lim}})
	if err != nil {
		t.Fatalf("New: %v (is bubblewrap installed?)", err)
	}
	return r
}

func TestRunEchoAllowlisted(t *testing.T) {
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/bin/echo"})
	res, err := r.Run(context.Background(), sandboxtest.Workspace(t), []string{"/bin/echo", "hello", "world"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || string(res.Stdout) != "hello world\n" {
		t.Fatalf("got exit %d stdout %q stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
}

func TestPayloadsArePassedLiterally(t *testing.T) {
	f, err := os.Open("testdata/command_exec.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ws := sandboxtest.Workspace(t)
	payloads := []string{
		"$(touch /workspace/canary)", "`touch /workspace/canary`", "; touch /workspace/canary",
		"| touch /workspace/canary", "&& touch /workspace/canary", "\ntouch /workspace/canary",
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			payloads = append(payloads, sc.Text())
		}
	}
	if len(payloads) < 400 {
		t.Fatalf("corpus too small: %d", len(payloads))
	}
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/usr/bin/printf"})
	for start := 0; start < len(payloads); start += 200 {
		batch := payloads[start:min(start+200, len(payloads))]
		res, err := r.Run(context.Background(), ws, append([]string{"/usr/bin/printf", `%s\0`}, batch...))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00")
		if res.ExitCode != 0 || len(got) != len(batch) {
			t.Fatalf("exit %d, %d outputs for %d payloads; stderr %q", res.ExitCode, len(got), len(batch), res.Stderr)
		}
		for i := range batch {
			if got[i] != batch[i] {
				t.Errorf("payload %q came back as %q", batch[i], got[i])
			}
		}
	}
	sandboxtest.AssertNoFile(t, filepath.Join(ws, "canary"))
}

func TestCommandNotAllowed(t *testing.T) {
	ws := sandboxtest.Workspace(t)
	hijack := "#!/bin/sh\ntouch /workspace/canary\n"
	for _, name := range []string{"echo", "sh", "true"} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(hijack), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sandboxtest.ChownTree(t, ws)
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/bin/echo"}, Command{Path: "/bin/sh"})
	tests := []struct {
		name string
		argv []string
	}{
		{"empty", nil},
		{"not allowlisted", []string{"/bin/cat", "/etc/hostname"}},
		{"bare name", []string{"echo", "x"}},
		{"relative workspace binary", []string{"./echo", "x"}},
		{"workspace path", []string{"/workspace/echo", "x"}},
		{"dotdot alias", []string{"/usr/bin/../bin/echo", "x"}},
		{"symlink alias", []string{"/usr/bin/echo", "x"}},
		{"host workspace path", []string{filepath.Join(ws, "echo")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), ws, tt.argv)
			if !errors.Is(err, ErrCommandNotAllowed) {
				t.Fatalf("err = %v, want ErrCommandNotAllowed", err)
			}
		})
	}
	t.Run("PATH lookup inside never reaches the workspace", func(t *testing.T) {
		res, err := r.Run(context.Background(), ws, []string{"/bin/sh", "-c", "echo hi; true; cd /workspace && echo ok"})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Stdout) != "hi\nok\n" {
			t.Fatalf("stdout %q stderr %q", res.Stdout, res.Stderr)
		}
	})
	sandboxtest.AssertNoFile(t, filepath.Join(ws, "canary"))
}

func TestArgsPattern(t *testing.T) {
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/bin/echo", ArgsPattern: `[a-z]+|[0-9]+`})
	ws := sandboxtest.Workspace(t)
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"letters", []string{"abc", "123"}, true},
		{"no args", nil, true},
		{"alternation stays anchored", []string{"abc;id"}, false},
		{"suffix", []string{"1x"}, false},
		{"option", []string{"-e"}, false},
		{"empty", []string{""}, false},
		{"nul", []string{"a\x00b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), ws, append([]string{"/bin/echo"}, tt.args...))
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrArgumentRejected)) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"relative command", Config{Commands: []Command{{Path: "echo"}}}, ErrInvalidConfig},
		{"unclean command", Config{Commands: []Command{{Path: "/usr/bin/../bin/echo"}}}, ErrInvalidConfig},
		{"missing command", Config{Commands: []Command{{Path: "/usr/bin/no-such-tool"}}}, ErrInvalidConfig},
		{"outside system dirs", Config{Commands: []Command{{Path: os.Args[0]}}}, ErrInvalidConfig},
		{"bad pattern", Config{Commands: []Command{{Path: "/bin/echo", ArgsPattern: "("}}}, ErrInvalidConfig},
		{"no bwrap", Config{Sandbox: sandbox.Config{BwrapPath: "/nonexistent/bwrap"}}, ErrSandboxUnavailable},
		{"bwrap cannot sandbox", Config{Sandbox: sandbox.Config{BwrapPath: "/bin/false"}}, ErrSandboxUnavailable},
		{"no prlimit", Config{Sandbox: sandbox.Config{PrlimitPath: "/nonexistent/prlimit"}}, ErrSandboxUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestContainment allowlists a shell on purpose: the sandbox must hold even
// when the operator allows one.
func TestContainment(t *testing.T) {
	outside := sandboxtest.OpenDir(t)
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/bin/sh"}, Command{Path: "/bin/bash"}, Command{Path: "/bin/cat"})
	ws := sandboxtest.Workspace(t)
	run := func(t *testing.T, argv ...string) Result {
		t.Helper()
		res, err := r.Run(context.Background(), ws, argv)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("read /etc/shadow", func(t *testing.T) {
		res := run(t, "/bin/cat", "/etc/shadow")
		if res.ExitCode == 0 || len(res.Stdout) > 0 {
			t.Fatalf("read shadow: exit %d stdout %q", res.ExitCode, res.Stdout)
		}
		res = run(t, "/bin/sh", "-c", "ls /etc; cat /etc/passwd /root/.ssh/* /proc/1/environ 2>/dev/null | head -c 100")
		if strings.Contains(string(res.Stdout), "shadow") || strings.Contains(string(res.Stdout), "root:") {
			t.Fatalf("host files visible: %q", res.Stdout)
		}
	})
	t.Run("write outside the workspace", func(t *testing.T) {
		script := "for d in " + outside + " /usr /etc /; do echo x > $d/canary; done; id -u > /workspace/inside"
		run(t, "/bin/sh", "-c", script)
		sandboxtest.AssertNoFile(t, filepath.Join(outside, "canary"))
		sandboxtest.AssertNoFile(t, "/usr/canary")
		sandboxtest.AssertNoFile(t, "/etc/canary")
		sandboxtest.AssertNoFile(t, "/canary")
		uid, err := os.ReadFile(filepath.Join(ws, "inside"))
		if err != nil || strings.TrimSpace(string(uid)) != "65534" {
			t.Fatalf("workspace not writable or uid not 65534 inside: %q %v", uid, err)
		}
	})
	t.Run("network connection", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		res := run(t, "/bin/bash", "-c", "echo hi > /dev/tcp/127.0.0.1/"+port+" && echo connected")
		if strings.Contains(string(res.Stdout), "connected") {
			t.Fatalf("connected to the host: %q", res.Stdout)
		}
		assertNoConnection(t, ln)
	})
	t.Run("capabilities and privileges", func(t *testing.T) {
		res := run(t, "/bin/sh", "-c", "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status")
		for _, want := range []string{"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1"} {
			if !strings.Contains(string(res.Stdout), want) {
				t.Fatalf("want %q inside, got %q", want, res.Stdout)
			}
		}
	})
}

func assertNoConnection(t *testing.T, ln net.Listener) {
	t.Helper()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(300 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("listener saw a connection from the sandbox")
	}
}

func TestForkBombContained(t *testing.T) {
	uid := sandboxtest.SandboxUID()
	limit := 24
	if os.Geteuid() != 0 {
		limit += sandboxtest.TasksOfUID(uid)
	}
	r := newRunner(t, sandbox.Limits{Processes: limit, Timeout: 3 * time.Second}, Command{Path: "/bin/sh"})
	ws := sandboxtest.Workspace(t)
	t.Run("process count bounded", func(t *testing.T) {
		done := make(chan Result, 1)
		go func() {
			res, _ := r.Run(context.Background(), ws, []string{"/bin/sh", "-c",
				"i=0; while [ $i -lt 200 ]; do sleep 30.25 & i=$((i+1)); done; sleep 30.25"})
			done <- res
		}()
		peak := 0
		for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
			peak = max(peak, len(sandboxtest.Processes("30.25")))
			time.Sleep(100 * time.Millisecond)
		}
		res := <-done
		if peak == 0 || peak > limit {
			t.Fatalf("%d processes seen with a limit of %d: %+v", peak, limit, res)
		}
		if !strings.Contains(string(res.Stderr), "fork") {
			t.Fatalf("no fork failure reported: %q", res.Stderr)
		}
		sandboxtest.AssertNoProcess(t, "30.25")
	})
	t.Run("classic bomb", func(t *testing.T) {
		start := time.Now()
		res, err := r.Run(context.Background(), ws, []string{"/bin/sh", "-c", "b(){ b | b & }; b; sleep 30.5"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.TimedOut || time.Since(start) > 10*time.Second {
			t.Fatalf("bomb not stopped by the timeout: %+v", res.Duration)
		}
		sandboxtest.AssertNoProcess(t, "30.5")
	})
}

func TestTimeoutKillsWholeGroup(t *testing.T) {
	r := newRunner(t, sandbox.Limits{Timeout: 500 * time.Millisecond}, Command{Path: "/bin/sh"}, Command{Path: "/bin/sleep"})
	ws := sandboxtest.Workspace(t)
	tests := []struct {
		name, marker string
		argv         []string
	}{
		{"sleep", "31.125", []string{"/bin/sleep", "31.125"}},
		{"background children", "32.125", []string{"/bin/sh", "-c", "sleep 32.125 & setsid sleep 32.125 & sleep 32.125"}},
		{"ignores TERM", "33.125", []string{"/bin/sh", "-c", "trap '' TERM HUP INT; sleep 33.125"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := r.Run(context.Background(), ws, tt.argv)
			if err != nil {
				t.Fatal(err)
			}
			if !res.TimedOut || time.Since(start) > 5*time.Second {
				t.Fatalf("not killed at the timeout: timedOut=%v after %v", res.TimedOut, time.Since(start))
			}
			sandboxtest.AssertNoProcess(t, tt.marker)
		})
	}
}

func TestOutputCapAndFileSize(t *testing.T) {
	r := newRunner(t, sandbox.Limits{OutputBytes: 1000, FileSizeBytes: 4096}, Command{Path: "/bin/sh"})
	ws := sandboxtest.Workspace(t)
	res, err := r.Run(context.Background(), ws, []string{"/bin/sh", "-c",
		"head -c 100000 /dev/zero | tr '\\0' a; head -c 100000 /dev/zero > /workspace/big"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Stdout) != 1000 || !bytes.Equal(res.Stdout[:3], []byte("aaa")) {
		t.Fatalf("truncated=%v len=%d", res.Truncated, len(res.Stdout))
	}
	fi, err := os.Stat(filepath.Join(ws, "big"))
	if err != nil || fi.Size() > 4096 {
		t.Fatalf("file size limit not applied: %v %v", fi, err)
	}
}

func TestWorkingDirectoryConfined(t *testing.T) {
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/bin/pwd"})
	ws := sandboxtest.Workspace(t)
	if err := os.Mkdir(filepath.Join(ws, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := r.RunDir(context.Background(), ws, "sub", []string{"/bin/pwd"})
	if err != nil || string(res.Stdout) != "/workspace/sub\n" {
		t.Fatalf("pwd %q err %v", res.Stdout, err)
	}
	for _, dir := range []string{"../", "/etc", "sub/../../x"} {
		if _, err := r.RunDir(context.Background(), ws, dir, []string{"/bin/pwd"}); !errors.Is(err, sandbox.ErrInvalidSpec) {
			t.Errorf("dir %q: err = %v, want ErrInvalidSpec", dir, err)
		}
	}
}

func TestEnvironmentFromScratch(t *testing.T) {
	t.Setenv("BULWARK_SECRET_TEST", "sk-should-not-leak")
	r := newRunner(t, sandbox.Limits{}, Command{Path: "/usr/bin/env"})
	res, err := r.Run(context.Background(), sandboxtest.Workspace(t), []string{"/usr/bin/env"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(res.Stdout))
	want := []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LC_ALL=C", "LANG=C", "PWD=/workspace"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("env inside = %q, want exactly %q", got, want)
	}
}

// TestNoProcessOutlivesARun guards against the sandbox's init leaving
// zombies or orphans behind: they would count against the process limit of
// later runs (and are a leak).
func TestNoProcessOutlivesARun(t *testing.T) {
	r := newRunner(t, sandbox.Limits{Timeout: 300 * time.Millisecond}, Command{Path: "/bin/sh"})
	ws := sandboxtest.Workspace(t)
	for i := 0; i < 10; i++ {
		if _, err := r.Run(context.Background(), ws, []string{"/bin/sh", "-c", "sleep 0.01 & echo $i"}); err != nil {
			t.Fatal(err)
		}
	}
	// A run killed at its timeout: the program (in its own session) must
	// be reaped by bwrap, not orphaned to the host's init.
	if res, err := r.Run(context.Background(), ws, []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}); err != nil || !res.TimedOut {
		t.Fatalf("timed-out run: %+v, %v", res, err)
	}
	time.Sleep(200 * time.Millisecond)
	if z := sandboxtest.OrphanZombies(sandboxtest.SandboxUID()); len(z) != 0 {
		t.Fatalf("orphaned zombies of the sandbox uid remain after the runs ended: %v", z)
	}
}
