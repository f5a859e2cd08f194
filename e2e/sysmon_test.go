package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeKeepsSysmonAwake: `bulwark serve` with two Ps or more restarts
// itself once, in place, with the runtime setting that keeps Go's monitor
// thread out of its deep sleep (internal/sysmon) — same PID, for the
// supervisor that started it — and keeps whatever else GODEBUG said; an
// explicit schedtrace, such as GODEBUG=schedtrace=0 to keep Go's default,
// is left as given. With one P (GOMAXPROCS=1, as a one-CPU affinity or
// container limit sets it) it keeps Go's default.
func TestServeKeepsSysmonAwake(t *testing.T) {
	bin, err := buildBulwark(t)
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			base = append(base, kv)
		}
	}
	for _, c := range []struct {
		name, procs, godebug, want string
	}{
		{"unset", "2", "", "GODEBUG=schedtrace=2147483647"},
		{"other settings kept", "2", "GODEBUG=http2client=0", "GODEBUG=http2client=0,schedtrace=2147483647"},
		{"explicit default kept", "2", "GODEBUG=schedtrace=0", "GODEBUG=schedtrace=0"},
		{"one P keeps Go's default", "1", "", ""},
		{"one P keeps other settings", "1", "GODEBUG=http2client=0", "GODEBUG=http2client=0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freePort(t)
			env := append(base[:len(base):len(base)], "BULWARK_DATA_DIR="+filepath.Join(dir, "data"), "BULWARK_LISTEN="+addr, "GOMAXPROCS="+c.procs)
			if c.godebug != "" {
				env = append(env, c.godebug)
			}
			setup := exec.Command(bin, "init")
			setup.Env = env
			if out, err := setup.CombinedOutput(); err != nil {
				t.Fatalf("init: %v: %s", err, out)
			}
			cmd, _, logs, err := startServe(t, bin, env, addr)
			if err != nil {
				t.Fatal(err)
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range bytes.Split(environ, []byte{0}) {
				if bytes.HasPrefix(kv, []byte("GODEBUG=")) {
					got = append(got, string(kv))
				}
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("the serving process (pid %d) runs with %q, want [%s]", cmd.Process.Pid, got, c.want)
			}
			if strings.Contains(logs.String(), "re-executing") {
				t.Fatalf("serve warned: %s", logs.String())
			}
			// Still called bulwark in ps, pgrep and the journal: Linux
			// names a process after the path it was executed by.
			comm, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
			if err != nil || string(bytes.TrimSpace(comm)) != "bulwark" {
				t.Fatalf("the serving process is named %q (%v), want bulwark", comm, err)
			}
			// The runtime's scheduler line appears only when the machine
			// has been up longer than the 24.8-day interval.
			if upLessThanInterval(t) && strings.Contains(logs.String(), "SCHED ") {
				t.Fatalf("serve printed a scheduler line at start: %s", logs.String())
			}
		})
	}
}

// upLessThanInterval reports whether the machine has been up for less than
// schedtrace's 2³¹−1 ms.
func upLessThanInterval(t *testing.T) bool {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return up < 2147483.647-60
}
