package pgtest

import (
	"os"
	"syscall"
	"testing"
)

// Run as root, the server never takes the exec sandbox's uid: RLIMIT_NPROC
// is counted per uid, and its processes would eat the sandbox tests'
// budget when packages run in parallel.
func TestServerUserIsNotTheSandboxUser(t *testing.T) {
	dir := t.TempDir()
	cred, err := dropRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if cred != nil {
			t.Fatalf("not root, yet credentials %+v", cred)
		}
		return
	}
	if cred == nil || cred.Uid == 0 || cred.Uid == nobodyUID {
		t.Fatalf("server credentials %+v: want a system user other than root and nobody", cred)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != cred.Uid {
		t.Fatalf("data dir owner %+v, want uid %d", fi.Sys(), cred.Uid)
	}
}
