package fs

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newWorkspace makes <tmp>/x/work (the workspace) next to <tmp>/x/work-evil
// and <tmp>/x (the parent), each holding a canary file.
func newWorkspace(t *testing.T, limits Limits) (*Workspace, string, string) {
	t.Helper()
	base := filepath.Join(fastTempDir(t), "x")
	ws := filepath.Join(base, "work")
	for _, d := range []string{ws, filepath.Join(base, "work-evil")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(ws, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, ws, base
}

// fastTempDir prefers tmpfs (/dev/shm), where fsync is cheap: the corpus
// tests make thousands of atomic writes and are about confinement, not disk
// speed.
func fastTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "bulwark-fs-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadWriteRoundTrip(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	if err := w.Write("notes/today.md", []byte("hello world")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(ws, "notes", "today.md"))
	if err != nil || string(got) != "hello world" {
		t.Fatalf("file on disk = %q, %v", got, err)
	}
	tests := []struct {
		name          string
		offset, limit int64
		want          string
	}{
		{"whole", 0, 0, "hello world"},
		{"offset", 6, 0, "world"},
		{"limit", 0, 5, "hello"},
		{"past end", 100, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := w.Read("notes/today.md", tt.offset, tt.limit)
			if err != nil || string(b) != tt.want {
				t.Fatalf("Read = %q, %v; want %q", b, err, tt.want)
			}
		})
	}
	if err := w.Write("notes/today.md", []byte("v2")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := w.Read("notes/today.md", 0, 0); string(b) != "v2" {
		t.Fatalf("after overwrite Read = %q", b)
	}
	entries, _ := os.ReadDir(filepath.Join(ws, "notes"))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestReadCap(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{MaxReadBytes: 10})
	mustWrite(t, filepath.Join(ws, "big"), strings.Repeat("a", 100))
	b, err := w.Read("big", 0, 1000)
	if err != nil || len(b) != 10 {
		t.Fatalf("Read = %d bytes, %v; want 10", len(b), err)
	}
	if _, err := w.Read("big", -1, 0); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("negative offset: %v", err)
	}
}

func TestWriteCap(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{MaxWriteBytes: 8})
	if err := w.Write("f", []byte("123456789")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write over cap = %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("refused write left a file")
	}
}

func TestDefaultLimits(t *testing.T) {
	w, _, _ := newWorkspace(t, Limits{})
	if got := w.Limits(); got.MaxReadBytes != 1<<20 || got.MaxWriteBytes != 1<<20 {
		t.Fatalf("defaults = %+v", got)
	}
}

func TestGitIsReadOnly(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	cfg := filepath.Join(ws, ".git", "config")
	mustWrite(t, cfg, "[core]\n")
	if err := os.Symlink(".git", filepath.Join(ws, "gitlink")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git/config", ".GIT/config", ".git/hooks/pre-commit", "sub/.git/config", ".git./config", "gitlink/config"} {
		t.Run(p, func(t *testing.T) {
			err := w.Write(p, []byte("[core]\n\tfsmonitor = evil\n"))
			if !errors.Is(err, ErrReadOnly) && !errors.Is(err, ErrSymlink) {
				t.Fatalf("Write(%q) = %v, want refusal", p, err)
			}
		})
	}
	if b, _ := os.ReadFile(cfg); string(b) != "[core]\n" {
		t.Fatalf(".git/config changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(ws, ".git", "hooks")); err == nil {
		t.Fatal("a refused write created .git/hooks")
	}
	if b, err := w.Read(".git/config", 0, 0); err != nil || string(b) != "[core]\n" {
		t.Fatalf(".git/config must stay readable: %q, %v", b, err)
	}
}

func TestFIFORefusedWithoutHanging(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	if err := syscall.Mkfifo(filepath.Join(ws, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(ws, "ok.txt"), "needle\n")
	ops := []struct {
		name string
		run  func() error
		want error
	}{
		{"read", func() error { _, err := w.Read("pipe", 0, 0); return err }, ErrNotRegular},
		{"list", func() error { _, err := w.List("pipe"); return err }, ErrNotDir},
		{"write", func() error { return w.Write("pipe", []byte("x")) }, ErrNotRegular},
		{"search skips", func() error {
			m, err := w.Search(".", "needle", 10)
			if err == nil && len(m) != 1 {
				return errors.New("unexpected matches")
			}
			return err
		}, nil},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- op.run() }()
			select {
			case err := <-done:
				if !errors.Is(err, op.want) { // errors.Is(nil, nil) is true
					t.Fatalf("%s = %v, want %v", op.name, err, op.want)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("%s on a FIFO hung", op.name)
			}
		})
	}
	if st, err := os.Lstat(filepath.Join(ws, "pipe")); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatal("FIFO was replaced")
	}
}

func TestSocketRefused(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	ln, err := net.Listen("unix", filepath.Join(ws, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := w.Read("sock", 0, 0); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("read socket = %v, want ErrNotRegular", err)
	}
	if err := w.Write("sock", []byte("x")); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("write socket = %v, want ErrNotRegular", err)
	}
}

func TestDeviceAndDirRefused(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	if err := os.Symlink("/dev/zero", filepath.Join(ws, "zero")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ws, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Read("zero", 0, 0); !errors.Is(err, ErrOutside) {
		t.Fatalf("read /dev/zero via link = %v, want ErrOutside", err)
	}
	if _, err := w.Read("d", 0, 0); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("read dir = %v, want ErrNotRegular", err)
	}
	if err := w.Write("d", []byte("x")); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("write over dir = %v, want ErrNotRegular", err)
	}
}

func TestEscapingSymlinksRefused(t *testing.T) {
	w, ws, base := newWorkspace(t, Limits{})
	canary := filepath.Join(base, "work-evil", "canary.txt")
	mustWrite(t, canary, "CANARY-SIBLING")
	mustWrite(t, filepath.Join(ws, "inside.txt"), "inside")
	links := map[string]string{
		"abs-file":    canary,
		"rel-file":    "../work-evil/canary.txt",
		"abs-dir":     filepath.Join(base, "work-evil"),
		"rel-dir":     "../work-evil",
		"etc":         "/etc",
		"chain-1":     "chain-2",
		"chain-2":     "../work-evil/canary.txt",
		"inside-link": "inside.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"abs-file", "rel-file", "abs-dir/canary.txt", "rel-dir/canary.txt", "etc/passwd", "chain-1"}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			if b, err := w.Read(p, 0, 0); !errors.Is(err, ErrOutside) {
				t.Fatalf("Read(%q) = %q, %v; want ErrOutside", p, b, err)
			}
			if err := w.Write(p, []byte("PWNED")); err == nil {
				t.Fatalf("Write(%q) succeeded", p)
			}
			if _, err := w.List(p); err == nil {
				t.Fatalf("List(%q) succeeded", p)
			}
		})
	}
	for _, dir := range []string{"abs-dir", "rel-dir"} {
		if _, err := w.List(dir); !errors.Is(err, ErrOutside) {
			t.Fatalf("List(%q) = %v, want ErrOutside", dir, err)
		}
	}
	if b, _ := os.ReadFile(canary); string(b) != "CANARY-SIBLING" {
		t.Fatalf("canary changed: %q", b)
	}
	if b, err := w.Read("inside-link", 0, 0); err != nil || string(b) != "inside" {
		t.Fatalf("symlink inside the workspace: %q, %v", b, err)
	}
	m, err := w.Search(".", "CANARY", 10)
	if err != nil || len(m) != 0 {
		t.Fatalf("Search followed a link outside: %v, %v", m, err)
	}
}

func TestErrorsHideHostPath(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{})
	if err := os.Symlink("/etc/passwd", filepath.Join(ws, "l")); err != nil {
		t.Fatal(err)
	}
	calls := []func() error{
		func() error { _, err := w.Read("missing.txt", 0, 0); return err },
		func() error { _, err := w.Read("l", 0, 0); return err },
		func() error { _, err := w.List("nope"); return err },
		func() error { return w.Write("l", []byte("x")) },
		func() error { _, err := w.Search("nope", "x", 1); return err },
	}
	for i, call := range calls {
		err := call()
		if err == nil {
			t.Fatalf("call %d succeeded", i)
		}
		if strings.Contains(err.Error(), ws) || strings.Contains(err.Error(), "/tmp") {
			t.Fatalf("error leaks host path: %v", err)
		}
	}
	_, err := w.Read("missing.txt", 0, 0)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"missing.txt"`) {
		t.Fatalf("missing file error = %v", err)
	}
}

func TestListAndSearch(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{MaxListEntries: 3})
	mustWrite(t, filepath.Join(ws, "b.go"), "package b\nfunc Needle() {}\n")
	mustWrite(t, filepath.Join(ws, "a.txt"), "no match\nneedle lower\n")
	mustWrite(t, filepath.Join(ws, "sub", "c.go"), "// Needle again\n")
	mustWrite(t, filepath.Join(ws, ".git", "objects", "x"), "Needle in git\n")
	mustWrite(t, filepath.Join(ws, "bin"), "Needle\x00binary")
	mustWrite(t, filepath.Join(ws, "z.txt"), "z")
	entries, err := w.List(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name+":"+e.Type)
	}
	if got := strings.Join(names, ","); got != ".git:dir,a.txt:file,b.go:file" {
		t.Fatalf("List = %s", got)
	}
	m, err := w.Search(".", "Needle", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Path != "b.go" || m[0].Line != 2 || m[1].Path != "sub/c.go" {
		t.Fatalf("Search = %+v", m)
	}
	m, err = w.SearchRegexp("sub", `(?i)needle\s+again`, 10)
	if err != nil || len(m) != 1 || m[0].Text != "// Needle again" {
		t.Fatalf("SearchRegexp = %+v, %v", m, err)
	}
	if m, _ := w.Search(".", "Needle", 1); len(m) != 1 {
		t.Fatalf("max results ignored: %d", len(m))
	}
	if err := os.Mkdir(filepath.Join(ws, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e, err := w.List("empty"); err != nil || len(e) != 0 {
		t.Fatalf("List(empty) = %v, %v", e, err)
	}
	if m, err := w.Search("empty", "x", 1); err != nil || len(m) != 0 {
		t.Fatalf("Search(empty) = %v, %v", m, err)
	}
	if _, err := w.SearchRegexp(".", "(", 1); err == nil {
		t.Fatal("bad regexp accepted")
	}
}

func TestSearchByteBudget(t *testing.T) {
	w, ws, _ := newWorkspace(t, Limits{MaxSearchBytes: 100})
	mustWrite(t, filepath.Join(ws, "a"), strings.Repeat("x\n", 200)+"needle\n")
	m, err := w.Search(".", "needle", 10)
	if err != nil || len(m) != 0 {
		t.Fatalf("search beyond byte budget found %v, %v", m, err)
	}
}

func TestForTenantIsolation(t *testing.T) {
	base := t.TempDir()
	a, err := ForTenant(base, "acme", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ForTenant(base, "globex", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Write("secret.txt", []byte("globex-secret")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../globex/secret.txt", "/" + filepath.Join(base, "globex", "secret.txt"), "globex/secret.txt"} {
		if got, err := a.Read(p, 0, 0); err == nil || bytes.Contains(got, []byte("globex")) {
			t.Fatalf("tenant acme read %q: %q, %v", p, got, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a/b", "../globex", "globex/..", "a\x00", ".hidden", strings.Repeat("t", 65), "ten ant"} {
		t.Run("refuse "+name, func(t *testing.T) {
			if _, err := ForTenant(base, name, Limits{}); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ForTenant(%q) = %v, want ErrInvalidName", name, err)
			}
		})
	}
	if err := os.Symlink(filepath.Join(base, "globex"), filepath.Join(base, "evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := ForTenant(base, "evil", Limits{}); !errors.Is(err, ErrSymlink) {
		t.Fatalf("tenant dir that is a link to another tenant: %v, want ErrSymlink", err)
	}
	if st, err := os.Stat(filepath.Join(base, "acme")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("tenant dir mode: %v, %v", st, err)
	}
}
