package sysmon

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

var envCases = []struct {
	name    string
	in      []string
	want    []string
	changed bool
}{
	{"no GODEBUG", []string{"A=1", "B=2"}, []string{"A=1", "B=2", "GODEBUG=" + Setting}, true},
	{"empty environment", nil, []string{"GODEBUG=" + Setting}, true},
	{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + Setting, "A=1"}, true},
	{"other settings kept in place", []string{"A=1", "GODEBUG=http2client=0,madvdontneed=1", "B=2"},
		[]string{"A=1", "GODEBUG=http2client=0,madvdontneed=1," + Setting, "B=2"}, true},
	{"explicit default kept", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
	{"explicit value kept", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, []string{"GODEBUG=gctrace=1,schedtrace=1000"}, false},
	{"already set by a re-exec", []string{"GODEBUG=" + Setting}, []string{"GODEBUG=" + Setting}, false},
	// The runtime reads the first GODEBUG; a later one must not survive to
	// confuse a reader of /proc/<pid>/environ.
	{"later GODEBUG dropped", []string{"GODEBUG=gctrace=1", "A=1", "GODEBUG=schedtrace=0"},
		[]string{"GODEBUG=gctrace=1," + Setting, "A=1"}, true},
	{"a later schedtrace does not count", []string{"GODEBUG=x=1", "GODEBUG=schedtrace=5"},
		[]string{"GODEBUG=x=1," + Setting}, true},
	{"a field without a value is ignored, as the runtime ignores it", []string{"GODEBUG=schedtrace"}, []string{"GODEBUG=schedtrace," + Setting}, true},
	{"key, not substring", []string{"GODEBUG=noschedtrace=1,schedtraced=2"}, []string{"GODEBUG=noschedtrace=1,schedtraced=2," + Setting}, true},
	{"not the GODEBUG variable", []string{"XGODEBUG=schedtrace=0", "GODEBUGX=1"},
		[]string{"XGODEBUG=schedtrace=0", "GODEBUGX=1", "GODEBUG=" + Setting}, true},
}

func TestEnv(t *testing.T) {
	for _, c := range envCases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.in)
			got, changed := Env(in)
			if changed != c.changed || !slices.Equal(got, c.want) {
				t.Fatalf("Env(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
			}
			if !slices.Equal(in, c.in) {
				t.Fatalf("Env modified its argument: %q", in)
			}
		})
	}
}

// FuzzEnv: whatever the environment, Env keeps every other variable in
// order; when it changes anything it leaves exactly one GODEBUG, ending in
// Setting; and it is a fixed point on its own output (a re-executed serve
// does not re-execute again).
func FuzzEnv(f *testing.F) {
	for _, c := range envCases {
		f.Add(strings.Join(c.in, "\n"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, "\n")
		got, changed := Env(in)
		var debug []string
		var others, othersIn []string
		for _, kv := range got {
			if strings.HasPrefix(kv, "GODEBUG=") {
				debug = append(debug, kv)
			} else {
				others = append(others, kv)
			}
		}
		for _, kv := range in {
			if !strings.HasPrefix(kv, "GODEBUG=") {
				othersIn = append(othersIn, kv)
			}
		}
		if !slices.Equal(others, othersIn) {
			t.Fatalf("Env(%q) changed other variables: %q", in, got)
		}
		if changed && (len(debug) != 1 || !strings.HasSuffix(debug[0], "="+Setting) && !strings.HasSuffix(debug[0], ","+Setting)) {
			t.Fatalf("Env(%q) left GODEBUG entries %q", in, debug)
		}
		if !changed && !slices.Equal(got, in) {
			t.Fatalf("Env(%q) reported no change but returned %q", in, got)
		}
		if _, again := Env(got); again {
			t.Fatalf("Env is not a fixed point on %q", got)
		}
	})
}

// TestBinary: the exec path keeps the process's name — argv[0] when it is
// the running binary, by PATH when argv[0] has no slash — and falls back
// to /proc/self/exe when argv[0] names anything else.
func TestBinary(t *testing.T) {
	self, err := os.Executable() // the test binary, by an absolute path
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "sysmon-self")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	for _, c := range []struct{ arg0, want string }{
		{self, self},
		{"sysmon-self", link},
		{"/bin/sh", "/proc/self/exe"},
		{filepath.Join(dir, "missing"), "/proc/self/exe"},
		{"missing-from-path", "/proc/self/exe"},
	} {
		got, ok := binary(c.arg0)
		if !ok || got != c.want {
			t.Errorf("binary(%q) = %q, %v; want %q", c.arg0, got, ok, c.want)
		}
	}
}

// TestReexecFailureIsReported: a failed exec is an error naming the
// setting and the cause, for serve to warn and go on with; the exec it
// attempted runs the same binary and arguments under Env's environment.
func TestReexecFailureIsReported(t *testing.T) {
	t.Setenv("GODEBUG", "gctrace=0")
	withProcs(t, 2)
	var gotPath string
	var gotArgv, gotEnv []string
	execve = func(path string, argv, env []string) error {
		gotPath, gotArgv, gotEnv = path, argv, env
		return syscall.EACCES
	}
	t.Cleanup(func() { execve = syscall.Exec })
	err := Reexec()
	if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), Setting) {
		t.Fatalf("Reexec() = %v, want an error naming %s and wrapping EACCES", err, Setting)
	}
	if want, _ := binary(os.Args[0]); gotPath != want || !slices.Equal(gotArgv, os.Args) {
		t.Fatalf("exec(%q, %q), want exec(%q, %q)", gotPath, gotArgv, want, os.Args)
	}
	if !slices.Contains(gotEnv, "GODEBUG=gctrace=0,"+Setting) {
		t.Fatalf("exec environment lacks the setting: %q", gotEnv)
	}
	// Nothing to add: no exec at all.
	t.Setenv("GODEBUG", "schedtrace=0")
	gotPath = ""
	if err := Reexec(); err != nil || gotPath != "" {
		t.Fatalf("Reexec() with schedtrace given = %v, exec %q; want nil and no exec", err, gotPath)
	}
}

func withProcs(t *testing.T, n int) {
	t.Helper()
	procs = func() int { return n }
	t.Cleanup(func() { procs = func() int { return runtime.GOMAXPROCS(0) } })
}

// TestReexecOnlyWithTwoPs: with a single P the process keeps Go's default
// — a synced commit would otherwise hold the only P for its whole length
// — and with two or more it re-executes.
func TestReexecOnlyWithTwoPs(t *testing.T) {
	t.Setenv("GODEBUG", "")
	execs := 0
	execve = func(string, []string, []string) error { execs++; return syscall.EACCES }
	t.Cleanup(func() { execve = syscall.Exec })
	for _, c := range []struct{ procs, execs int }{{1, 0}, {2, 1}, {8, 1}} {
		withProcs(t, c.procs)
		execs = 0
		err := Reexec()
		if execs != c.execs || (c.execs == 0) != (err == nil) {
			t.Fatalf("GOMAXPROCS %d: Reexec() = %v after %d execs, want %d", c.procs, err, execs, c.execs)
		}
	}
}
