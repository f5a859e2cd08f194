package secaudit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// devKeyFile is the development master key instance.Open generates in the
// data directory when no key is configured.
const devKeyFile = "master.key"

// modeRule is one file whose permissions must not include bad.
type modeRule struct {
	id, title, fix string
	sev            Severity
	bad            fs.FileMode
	// worse are bits among bad that make the finding critical.
	worse fs.FileMode
	dir   bool
}

// checkFiles checks the data directory, the files in it, the key files and
// the configuration file. It only reads metadata.
func checkFiles(in Input) []Finding {
	var out []Finding
	out = append(out, checkDataDir(in.Config.DataDir)...)
	keyFile := in.Config.MasterKeyFile
	if keyFile == "" && in.Config.MasterKey() == "" {
		keyFile = filepath.Join(in.Config.DataDir, devKeyFile)
	}
	rules := []struct {
		path string
		rule modeRule
	}{
		{keyFile, modeRule{id: "BW-FS-005", sev: Critical, bad: 0o077, title: "master key file is accessible by group or others",
			fix: "chmod 600 the key file (serve refuses to load it otherwise)"}},
		{in.Config.TLS.KeyFile, modeRule{id: "BW-FS-006", sev: High, bad: 0o077, title: "TLS private key is accessible by group or others",
			fix: "chmod 600 the TLS key file"}},
		{in.ConfigPath, modeRule{id: "BW-FS-007", sev: Medium, bad: 0o022, worse: 0o002, title: "config file is writable by group or others",
			fix: "chmod go-w the config file: whoever can write it decides listeners, proxies and tools"}},
	}
	for _, r := range rules {
		if f, ok := checkMode(r.path, r.rule); ok {
			out = append(out, f)
		}
	}
	return out
}

// checkDataDir checks the directory itself, then the database files in it.
func checkDataDir(dir string) []Finding {
	lfi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Finding{{ID: "BW-FS-000", Severity: Info, Title: "data directory does not exist yet",
			Evidence: "path " + dir, Fix: "run `bulwark init`; it creates the directory with mode 0700"}}
	}
	if err != nil {
		return []Finding{statFailed(dir, err)}
	}
	var out []Finding
	if lfi.Mode()&fs.ModeSymlink != 0 {
		out = append(out, Finding{ID: "BW-FS-003", Severity: Medium, Title: "data directory is a symbolic link",
			Evidence: "path " + dir,
			Fix:      "point data_dir at the real directory: whoever can change the link can swap the whole data directory"})
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return append(out, statFailed(dir, err))
	}
	if f, ok := checkMode(dir, modeRule{id: "BW-FS-001", sev: High, bad: 0o077, dir: true,
		title: "data directory is accessible by group or others", fix: "chmod 700 the data directory"}); ok {
		out = append(out, f)
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		out = append(out, Finding{ID: "BW-FS-002", Severity: High, Title: "data directory is not owned by the user running Bulwark",
			Evidence: fmt.Sprintf("path %s, owner uid %d, running as uid %d", dir, uid, os.Geteuid()),
			Fix:      "chown the data directory to the service user (run the audit as that user)"})
	}
	// Behind a 0700 directory the files are out of others' reach; their
	// modes still matter for backups and copies, which keep them.
	sev := Low
	if fi.Mode().Perm()&0o077 != 0 {
		sev = High
	}
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal", sqlite.FileName + "-shm"} {
		if f, ok := checkMode(filepath.Join(dir, name), modeRule{id: "BW-FS-004", sev: sev, bad: 0o077,
			title: "database file is accessible by group or others",
			fix:   "chmod 600 the database files (WAL and SHM files are created with the database's mode)"}); ok {
			out = append(out, f)
		}
	}
	return out
}

// checkMode reports path when its permissions include any of r.bad. A
// missing path (or "") is no finding.
func checkMode(path string, r modeRule) (Finding, bool) {
	if path == "" {
		return Finding{}, false
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Finding{}, false
	}
	if err != nil {
		return statFailed(path, err), true
	}
	perm := fi.Mode().Perm()
	if perm&r.bad == 0 {
		return Finding{}, false
	}
	f := Finding{ID: r.id, Severity: r.sev, Title: r.title, Fix: r.fix,
		Evidence: fmt.Sprintf("path %s, mode %04o", path, perm)}
	if perm&r.worse != 0 {
		f.Severity = Critical
	}
	resolved, err := filepath.EvalSymlinks(path)
	if uid, ok := owner(fi); ok && uid == os.Geteuid() && err == nil {
		f.Fixable = true
		f.repair = repair{path: resolved, clear: r.bad, dir: r.dir}
	} else {
		f.Evidence += ", owned by another user (not changed by --fix)"
	}
	return f, true
}

func statFailed(path string, err error) Finding {
	return Finding{ID: "BW-FS-008", Severity: Medium, Title: "file cannot be inspected",
		Evidence: fmt.Sprintf("path %s: %v", path, errors.Unwrap(err)),
		Fix:      "run the audit as the service user, or fix the path in the configuration"}
}

func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
