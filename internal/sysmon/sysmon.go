// Package sysmon keeps the Go runtime's monitor thread awake in the
// gateway process, where its default sleep costs more than it saves.
//
// The runtime's sysmon thread sleeps deeply whenever every P is idle, and
// the first syscall after that wakes it (a futex wake and a context
// switch), after which it polls every 20 µs until the process is idle
// again. A gateway at moderate load goes idle and busy again several times
// per request, so on a virtual machine, where each switch is dear, sysmon's
// wake-ups were a fifth to a third of the process's CPU
// (docs/performance.md, twelfth round). With GODEBUG schedtrace set, sysmon
// never sleeps deeply: it backs off to one wake-up per 10 ms and stays
// there while it has nothing to retake, as it does in a process that is
// busy all the time. The prices — a goroutine blocked in a long syscall
// keeps its P until a later wake-up, 100 wake-ups a second when idle, the
// scheduler's state printed before a fatal panic — are in
// docs/operations.md. The runtime reads GODEBUG only at start, so serve
// re-executes itself with the setting.
//
// Only with two Ps or more. With one, a goroutine in a blocking syscall —
// an audit entry's synced commit — holds the only P for the whole call,
// since sysmon, backed off, no longer takes it back within microseconds:
// the process stops serving for every fsync. With the default policy and
// PII in every prompt (two audit entries per request) that cut a 1-CPU
// gateway to ≈ 1 000 requests/s at 20–40 ms p50, against 1 376 at 4 ms
// with Go's default (docs/performance.md, thirteenth round). With two Ps
// the other P serves on, and no such loss showed.
//
// The interval, 2³¹−1 ms (24.8 days), is how often the runtime prints its
// one-line scheduler summary to standard error; it prints one at start when
// the machine has been up longer than that. An explicit schedtrace in
// GODEBUG is kept as it is: GODEBUG=schedtrace=0 keeps Go's default.
package sysmon

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// Setting is the GODEBUG setting Env adds.
const Setting = "schedtrace=2147483647"

// Env returns environ with Setting added to GODEBUG, and whether it added
// it; environ is returned unchanged when GODEBUG already names schedtrace.
// The runtime reads the first GODEBUG of the environment, so that is the
// one extended, and any later ones are dropped.
func Env(environ []string) ([]string, bool) {
	first := -1
	for i, kv := range environ {
		if strings.HasPrefix(kv, "GODEBUG=") {
			first = i
			break
		}
	}
	if first < 0 {
		return append(environ[:len(environ):len(environ)], "GODEBUG="+Setting), true
	}
	value := strings.TrimPrefix(environ[first], "GODEBUG=")
	for f := range strings.SplitSeq(value, ",") {
		// The runtime ignores a field without "=", and so does this.
		if key, _, ok := strings.Cut(f, "="); ok && key == "schedtrace" {
			return environ, false
		}
	}
	if value != "" {
		value += ","
	}
	out := make([]string, 0, len(environ))
	for i, kv := range environ {
		switch {
		case i == first:
			out = append(out, "GODEBUG="+value+Setting)
		case !strings.HasPrefix(kv, "GODEBUG="):
			out = append(out, kv)
		}
	}
	return out, true
}

// Reexec replaces the process with the same binary and arguments under
// Env's environment, keeping its PID and open descriptors. It returns nil
// without doing anything when the runtime has a single P (GOMAXPROCS, as
// the CPU affinity or a container's CPU limit sets it), when there is
// nothing to add, or on a system without /proc, and an error only when
// the exec failed; the caller then goes on with the runtime's default.
func Reexec() error {
	if runtime.GOOS != "linux" || procs() < 2 {
		return nil
	}
	env, changed := Env(os.Environ())
	if !changed {
		return nil
	}
	path, ok := binary(os.Args[0])
	if !ok {
		return nil
	}
	if err := execve(path, os.Args, env); err != nil {
		return fmt.Errorf("re-executing with GODEBUG=%s: %w", Setting, err)
	}
	return nil
}

// execve is syscall.Exec and procs the runtime's P count; tests replace
// them.
var (
	execve = syscall.Exec
	procs  = func() int { return runtime.GOMAXPROCS(0) }
)

// binary is the path to execute the running binary by: argv[0] (looked up
// in PATH when it has no slash) when that is the running file, so the
// process keeps its name in ps, pgrep and the journal — Linux names a
// process after the path it was executed by — and /proc/self/exe
// otherwise, which is the running binary even when its file was replaced
// or removed since it started (an upgrade in place). ok is false without
// /proc.
func binary(arg0 string) (path string, ok bool) {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return "", false
	}
	if !strings.Contains(arg0, "/") {
		if arg0, err = exec.LookPath(arg0); err != nil {
			return "/proc/self/exe", true
		}
	}
	if fi, err := os.Stat(arg0); err == nil && os.SameFile(fi, self) { //nolint:gosec // G703: our own argv[0], only compared with the running binary
		return arg0, true
	}
	return "/proc/self/exe", true
}
