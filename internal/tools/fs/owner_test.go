package fs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// testOwner is the owner a sandboxed workspace gets: uid/gid 65534 when
// the test runs as root (as in CI), else the test's own ids (an ordinary
// user may only chown to itself).
func testOwner() *Owner {
	if os.Geteuid() == 0 {
		return &Owner{UID: 65534, GID: 65534}
	}
	return &Owner{UID: os.Geteuid(), GID: os.Getegid()}
}

func assertOwned(t *testing.T, p string, o *Owner, perm os.FileMode) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if int(sys.Uid) != o.UID || int(sys.Gid) != o.GID {
		t.Fatalf("%s owned by %d:%d, want %d:%d", filepath.Base(p), sys.Uid, sys.Gid, o.UID, o.GID)
	}
	if perm != 0 && st.Mode().Perm() != perm {
		t.Fatalf("%s mode %v, want %v", filepath.Base(p), st.Mode().Perm(), perm)
	}
}

func TestForTenantOwnedHandsEverythingToTheSandboxUID(t *testing.T) {
	base := t.TempDir()
	o := testOwner()
	w, err := ForTenantOwned(base, "acme", Limits{}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tests := []struct {
		name string
		path string
	}{
		{"top-level file", "a.txt"},
		{"nested file creates owned dirs", "src/pkg/b.go"},
		{"replace keeps the owner", "a.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := w.Write(tt.path, []byte("x")); err != nil {
				t.Fatal(err)
			}
			assertOwned(t, filepath.Join(base, "acme", tt.path), o, 0o644)
		})
	}
	ws := filepath.Join(base, "acme")
	assertOwned(t, ws, o, 0o700) // never widened to group or other
	assertOwned(t, filepath.Join(ws, "src"), o, 0o755)
	assertOwned(t, filepath.Join(ws, "src", "pkg"), o, 0o755)
}

func TestForTenantOwnedAdoptsAnOldTreeWithoutFollowingLinks(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(t.TempDir(), "host.txt")
	if err := os.WriteFile(outside, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(base, "acme")
	if err := os.MkdirAll(filepath.Join(ws, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "dir", "old.txt"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ws, "link")); err != nil {
		t.Fatal(err)
	}
	o := testOwner()
	w, err := ForTenantOwned(base, "acme", Limits{}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{ws, filepath.Join(ws, "dir"), filepath.Join(ws, "dir", "old.txt"), filepath.Join(ws, "link")} {
		assertOwned(t, p, o, 0)
	}
	// The link's target outside the workspace keeps its owner.
	assertOwned(t, outside, &Owner{UID: os.Geteuid(), GID: os.Getegid()}, 0o600)
}

func TestForTenantOwnedRefusesRootAndKeepsConfinement(t *testing.T) {
	base := t.TempDir()
	for _, o := range []*Owner{{UID: 0, GID: 0}, {UID: 65534, GID: 0}, {UID: -1, GID: 5}} {
		if _, err := ForTenantOwned(base, "acme", Limits{}, o); err == nil {
			t.Fatalf("owner %+v accepted", *o)
		}
	}
	if err := os.Symlink(t.TempDir(), filepath.Join(base, "evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := ForTenantOwned(base, "evil", Limits{}, testOwner()); !errors.Is(err, ErrSymlink) {
		t.Fatalf("symlinked tenant dir: %v, want ErrSymlink", err)
	}
	if _, err := ForTenantOwned(base, "../x", Limits{}, testOwner()); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad tenant: %v, want ErrInvalidName", err)
	}
}
