package secaudit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// fsSetup is a data directory laid out the way a healthy install leaves it:
// directory 0700, database 0600, key and TLS key files 0600, config 0644.
type fsSetup struct {
	dir, data, db, key, tlsKey, cfgFile string
}

func newFSSetup(t *testing.T) (*fsSetup, Input) {
	t.Helper()
	dir := t.TempDir()
	s := &fsSetup{dir: dir, data: filepath.Join(dir, "data"), key: filepath.Join(dir, "master.key"),
		tlsKey: filepath.Join(dir, "tls.key"), cfgFile: filepath.Join(dir, "bulwark.yaml")}
	s.db = filepath.Join(s.data, sqlite.FileName)
	if err := os.Mkdir(s.data, 0o700); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{s.db: 0o600, s.db + "-wal": 0o600, s.key: 0o600, s.tlsKey: 0o600, s.cfgFile: 0o644} {
		if err := os.WriteFile(path, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		chmod(t, path, mode) // WriteFile's mode is filtered by the umask
	}
	c := config.Default()
	c.DataDir, c.MasterKeyFile = s.data, s.key
	c.TLS = config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: s.tlsKey}
	return s, Input{Config: c, ConfigPath: s.cfgFile}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func ids(found []Finding) []string {
	out := make([]string, 0, len(found))
	for _, f := range found {
		out = append(out, f.ID)
	}
	return out
}

func find(found []Finding, id string) (Finding, bool) {
	i := slices.IndexFunc(found, func(f Finding) bool { return f.ID == id })
	if i < 0 {
		return Finding{}, false
	}
	return found[i], true
}

func TestCheckFiles(t *testing.T) {
	tests := []struct {
		name    string
		break_  func(t *testing.T, s *fsSetup, in *Input)
		id      string // "" : no finding at all
		sev     Severity
		fixable bool
	}{
		{"healthy install", func(*testing.T, *fsSetup, *Input) {}, "", 0, false},
		{"data dir 0755", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.data, 0o755) }, "BW-FS-001", High, true},
		{"data dir 0750", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.data, 0o750) }, "BW-FS-001", High, true},
		{"data dir missing", func(t *testing.T, s *fsSetup, in *Input) { in.Config.DataDir = filepath.Join(s.dir, "none") }, "BW-FS-000", Info, false},
		{"data dir is a symlink", func(t *testing.T, s *fsSetup, in *Input) {
			link := filepath.Join(s.dir, "link")
			if err := os.Symlink(s.data, link); err != nil {
				t.Fatal(err)
			}
			in.Config.DataDir = link
		}, "BW-FS-003", Medium, false},
		{"database 0644 behind a 0700 dir", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.db, 0o644) }, "BW-FS-004", Low, true},
		{"WAL 0640", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.db+"-wal", 0o640) }, "BW-FS-004", Low, true},
		{"master key file 0640", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.key, 0o640) }, "BW-FS-005", Critical, true},
		{"dev master key 0644", func(t *testing.T, s *fsSetup, in *Input) { devKey(t, s, in, 0o644) }, "BW-FS-005", Critical, true},
		{"env master key: the data dir's master.key is not used", func(t *testing.T, s *fsSetup, in *Input) {
			devKey(t, s, in, 0o644)
			in.Config.SetMasterKey("k")
		}, "", 0, false},
		{"data dir is a symlink loop", func(t *testing.T, s *fsSetup, in *Input) {
			loop := filepath.Join(s.dir, "loop")
			if err := os.Symlink(loop, loop); err != nil {
				t.Fatal(err)
			}
			in.Config.DataDir = loop
		}, "BW-FS-008", Medium, false},
		{"master key file is a symlink loop", func(t *testing.T, s *fsSetup, in *Input) {
			loop := filepath.Join(s.dir, "key-loop")
			if err := os.Symlink(loop, loop); err != nil {
				t.Fatal(err)
			}
			in.Config.MasterKeyFile = loop
		}, "BW-FS-008", Medium, false},
		{"TLS key 0644", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.tlsKey, 0o644) }, "BW-FS-006", High, true},
		{"config group-writable", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.cfgFile, 0o664) }, "BW-FS-007", Medium, true},
		{"config world-writable", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.cfgFile, 0o666) }, "BW-FS-007", Critical, true},
		{"config world-readable is fine", func(t *testing.T, s *fsSetup, _ *Input) { chmod(t, s.cfgFile, 0o644) }, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, in := newFSSetup(t)
			tt.break_(t, s, &in)
			found := checkFiles(in)
			if tt.id == "" {
				if len(found) != 0 {
					t.Fatalf("want no finding, got %v", found)
				}
				return
			}
			f, ok := find(found, tt.id)
			if !ok {
				t.Fatalf("want %s, got %v", tt.id, ids(found))
			}
			if f.Severity != tt.sev || f.Fixable != tt.fixable {
				t.Fatalf("%s: severity %s fixable %t, want %s %t", tt.id, f.Severity, f.Fixable, tt.sev, tt.fixable)
			}
			if f.Title == "" || f.Evidence == "" || f.Fix == "" {
				t.Fatalf("incomplete finding %+v", f)
			}
		})
	}
}

// TestDatabaseSeverityFollowsDir: a database file others may read is high
// when the directory lets them in, low when a 0700 directory keeps them out.
func TestDatabaseSeverityFollowsDir(t *testing.T) {
	s, in := newFSSetup(t)
	chmod(t, s.db, 0o644)
	chmod(t, s.data, 0o755)
	f, ok := find(checkFiles(in), "BW-FS-004")
	if !ok || f.Severity != High {
		t.Fatalf("BW-FS-004 behind a 0755 dir: %+v", f)
	}
}

// TestFixModes: Fix repairs every fixable mode, changes nothing else, a
// second check is clean and a second Fix applies nothing.
func TestFixModes(t *testing.T) {
	s, in := newFSSetup(t)
	chmod(t, s.data, 0o755)
	chmod(t, s.db, 0o644)
	chmod(t, s.key, 0o640)
	chmod(t, s.tlsKey, 0o604)
	chmod(t, s.cfgFile, 0o666)
	applied, err := Fix(checkFiles(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{s.data: 0o700, s.db: 0o600, s.key: 0o600, s.tlsKey: 0o600, s.cfgFile: 0o644}
	if len(applied) != len(want) {
		t.Fatalf("applied %+v, want %d fixes", applied, len(want))
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), mode)
		}
	}
	if found := checkFiles(in); len(found) != 0 {
		t.Fatalf("after fix: %v", found)
	}
	again, err := Fix(checkFiles(in))
	if err != nil || len(again) != 0 {
		t.Fatalf("second fix: %+v %v", again, err)
	}
}

// TestFixRefusesSymlink: a path swapped for a symbolic link between the
// check and the fix is not followed.
func TestFixRefusesSymlink(t *testing.T) {
	s, in := newFSSetup(t)
	chmod(t, s.db, 0o644)
	found := checkFiles(in)
	victim := filepath.Join(s.dir, "victim")
	if err := os.WriteFile(victim, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, victim, 0o644)
	if err := os.Remove(s.db); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, s.db); err != nil {
		t.Fatal(err)
	}
	if _, err := Fix(found); err == nil {
		t.Fatal("Fix followed a symbolic link")
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o644 {
		t.Fatalf("the link's target was changed to %04o", fi.Mode().Perm())
	}
}

// expectIDs fails t unless every id in want is found and none in absent.
func expectIDs(t *testing.T, found []Finding, want, absent []string) {
	t.Helper()
	for _, id := range want {
		if _, ok := find(found, id); !ok {
			t.Errorf("want %s, got %v", id, ids(found))
		}
	}
	for _, id := range absent {
		if f, ok := find(found, id); ok {
			t.Errorf("unexpected %s: %+v", id, f)
		}
	}
}

// devKey writes the data directory's generated master key with mode and
// takes the key from there.
func devKey(t *testing.T, s *fsSetup, in *Input, mode os.FileMode) {
	t.Helper()
	dev := filepath.Join(s.data, devKeyFile)
	if err := os.WriteFile(dev, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, dev, mode)
	in.Config.MasterKeyFile = ""
}

// TestDataDirOwner: a data directory another user owns is reported (as
// root the test hands it to nobody; otherwise it audits "/", root's).
func TestDataDirOwner(t *testing.T) {
	s, in := newFSSetup(t)
	if f, ok := find(checkFiles(in), "BW-FS-002"); ok {
		t.Fatalf("own directory reported: %+v", f)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(s.data, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		in.Config.DataDir = "/"
	}
	if _, ok := find(checkFiles(in), "BW-FS-002"); !ok {
		t.Fatalf("directory of another user not reported: %v", ids(checkFiles(in)))
	}
}
