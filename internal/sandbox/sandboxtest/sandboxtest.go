// Package sandboxtest holds test helpers shared by the packages that run
// processes in the sandbox: workspaces the sandbox uid can write, canary
// directories and process-table checks. It is imported by tests only.
package sandboxtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
)

// Workspace returns a fresh directory the sandbox can bind and write: when
// the test runs as root, the sandbox runs as uid 65534, so the directory is
// owned by it. Removed at cleanup.
func Workspace(t testing.TB) string {
	t.Helper()
	dir := OpenDir(t)
	ws := filepath.Join(dir, "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(ws, sandbox.DefaultUID, sandbox.DefaultUID); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// OpenDir returns a world-writable directory outside any workspace. A file
// appearing in it proves an escape: only the sandbox's mount namespace,
// not file permissions, keeps sandboxed processes out of it.
func OpenDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bulwark-sbx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ChownTree gives everything under root to the sandbox uid when running
// as root (files a test planted must be writable inside).
func ChownTree(t testing.TB, root string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, sandbox.DefaultUID, sandbox.DefaultUID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// AssertNoFile fails the test if path exists.
func AssertNoFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Fatalf("canary %s exists: something ran that must not", path)
	}
}

// Processes returns the pids whose command line contains marker.
func Processes(marker string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// AssertNoProcess waits briefly for processes whose command line contains
// marker to disappear and fails if any remain.
func AssertNoProcess(t testing.TB, marker string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		pids := Processes(marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes still running after the run ended: %v", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TasksOfUID counts the tasks (threads) the kernel charges to uid for
// RLIMIT_NPROC.
func TasksOfUID(uid int) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(uid)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == want {
				tasks, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "task"))
				n += len(tasks)
			}
		}
	}
	return n
}

// SandboxUID is the host uid sandboxed processes run as in this test.
func SandboxUID() int {
	if os.Geteuid() == 0 {
		return sandbox.DefaultUID
	}
	return os.Geteuid()
}

// OrphanZombies returns the zombie processes of uid that were reparented
// to the host's init: the signature of a sandbox whose inner process
// outlived the bwrap that started it.
func OrphanZombies(uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var zombie, orphan, mine bool
		for _, line := range strings.Split(string(st), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > 1 && f[0] == "State:":
				zombie = f[1] == "Z"
			case len(f) > 1 && f[0] == "PPid:":
				orphan = f[1] == "1"
			case len(f) > 1 && f[0] == "Uid:":
				mine = f[1] == strconv.Itoa(uid)
			}
		}
		if zombie && orphan && mine {
			pids = append(pids, pid)
		}
	}
	return pids
}
