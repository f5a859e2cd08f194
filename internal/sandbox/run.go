package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// run starts the sandboxed process in its own process group and kills the
// whole group when it ends, times out or ctx is cancelled.
func (s *Sandbox) run(ctx context.Context, spec Spec) (Result, error) {
	argv, err := s.Argv(spec)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.Timeout)
	defer cancel()

	// argv is Argv's: prlimit and bwrap at the absolute paths New checked,
	// then the caller's program, which is what the sandbox exists to run.
	// Not CommandContext: when ctx ends the goroutine below kills the whole
	// process group (CommandContext would kill only the leader) and Wait
	// still reports the exit status rather than ctx.Err().
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec,noctx // G204 and noctx: see above
	cmd.Env = append([]string{}, spec.Env...)
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	stdout := &capped{max: s.cfg.Limits.OutputBytes}
	stderr := &capped{max: s.cfg.Limits.OutputBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	filter, err := filterPipe(s.filter)
	if err != nil {
		return Result{}, err
	}
	cmd.ExtraFiles = []*os.File{filter} // seccompFD in bwrap

	start := time.Now()
	err = cmd.Start()
	_ = filter.Close() // the child holds its own copy
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: start: %w", err)
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killSandbox(pgid)
		case <-done:
		}
	}()
	werr := cmd.Wait()
	close(done)
	// The group may hold processes that outlived the leader; they go too.
	killGroup(pgid)

	res := Result{
		Stdout: stdout.bytes(), Stderr: stderr.bytes(),
		Truncated: stdout.truncated() || stderr.truncated(),
		Duration:  time.Since(start),
		TimedOut:  errors.Is(ctx.Err(), context.DeadlineExceeded),
	}
	var exitErr *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if res.ExitCode < 0 {
			res.ExitCode = 128 + int(signalOf(exitErr))
		}
	default:
		return res, fmt.Errorf("sandbox: wait: %w", werr)
	}
	return res, nil
}

func signalOf(e *exec.ExitError) syscall.Signal {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return syscall.SIGKILL
}

// killSandbox ends a run early. The program runs in its own session
// (--new-session), outside bwrap's process group, so killing the group
// alone would leave --die-with-parent to end it after bwrap died: it would
// be reparented to the host's init and linger there as a zombie of the
// sandbox uid, counted against RLIMIT_NPROC, until init reaps it. Killing
// bwrap's children first lets bwrap reap them itself; as they are the pid
// namespace's init, the kernel kills everything else inside with them.
func killSandbox(pgid int) {
	for _, pid := range childrenOf(pgid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Give bwrap a moment to reap them before it goes too.
	deadline := time.Now().Add(500 * time.Millisecond)
	for len(childrenOf(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	killGroup(pgid)
}

// childrenOf lists the direct children of pid (all its threads), from
// /proc/<pid>/task/<tid>/children.
func childrenOf(pid int) []int {
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

func killGroup(pgid int) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// capped is an io.Writer that keeps the first max bytes and counts the
// rest, so a chatty process never blocks on a full pipe nor fills memory.
type capped struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room < len(p) {
		c.over = true
		if room > 0 {
			c.buf = append(c.buf, p[:room]...)
		}
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *capped) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...)
}

func (c *capped) truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}
