package fs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"strings"
)

// Write atomically replaces (or creates) the regular file at p with data:
// the bytes go to a temporary file in the same directory inside the root,
// which is synced and then renamed over p, so readers see the old or the new
// content, never a mix. Missing parent directories are created. Writes
// refuse .git (any component, any case), paths through symlinks, existing
// non-regular targets, and data above MaxWriteBytes.
func (w *Workspace) Write(p string, data []byte) error {
	rel, err := ValidatePath(p)
	if err != nil {
		return fmt.Errorf("fs: write: %w", err)
	}
	if rel == "." {
		return fmt.Errorf("fs: write %q: %w", rel, ErrNotRegular)
	}
	if inGitDir(rel) {
		return fmt.Errorf("fs: write %q: %w: .git is read-only", rel, ErrReadOnly)
	}
	if int64(len(data)) > w.limits.MaxWriteBytes {
		return fmt.Errorf("fs: write %q: %w: %d bytes, limit %d", rel, ErrTooLarge, len(data), w.limits.MaxWriteBytes)
	}
	dir, base := path.Split(rel)
	parent, err := w.openParent(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return fmt.Errorf("fs: write %q: %w", rel, err)
	}
	if parent != w.root {
		defer closeRead(parent) // a directory handle: the write was synced through its own file
	}
	if err := w.replaceFile(parent, base, data); err != nil {
		return fmt.Errorf("fs: write %q: %w", rel, err)
	}
	return nil
}

// openParent walks dir one component at a time, creating what is missing,
// and returns a root handle on it. It refuses any component that is a
// symlink (checked with lstat, then confirmed on the opened handle), so a
// link planted inside the workspace cannot steer a write into .git.
// Directories it creates are given to the workspace owner, if any.
func (w *Workspace) openParent(dir string) (*os.Root, error) {
	cur := w.root
	if dir == "" {
		return cur, nil
	}
	for _, c := range strings.Split(dir, "/") {
		next, created, err := openChildDir(cur, c, 0o755)
		if cur != w.root {
			closeRead(cur)
		}
		if err != nil {
			return nil, err
		}
		if created {
			if err := w.chownDir(next); err != nil {
				closeRead(next)
				return nil, ErrAccess
			}
		}
		cur = next
	}
	return cur, nil
}

// openChildDir opens (creating if missing, reported by created) the
// directory name under cur, refusing symlinks and non-directories.
func openChildDir(cur *os.Root, name string, perm os.FileMode) (r *os.Root, created bool, err error) {
	if err := cur.Mkdir(name, perm); err == nil {
		created = true
	} else if !errors.Is(err, iofs.ErrExist) {
		return nil, false, publicCause(err)
	}
	before, err := cur.Lstat(name)
	if err != nil {
		return nil, false, publicCause(err)
	}
	switch {
	case before.Mode()&os.ModeSymlink != 0:
		return nil, false, ErrSymlink
	case !before.IsDir():
		return nil, false, ErrNotDir
	}
	next, err := cur.OpenRoot(name)
	if err != nil {
		return nil, false, publicCause(err)
	}
	after, err := next.Stat(".")
	if err != nil || !os.SameFile(before, after) {
		closeRead(next)
		return nil, false, ErrSymlink // swapped for a link between lstat and open
	}
	return next, created, nil
}

// replaceFile writes data to a fresh temporary file in dir, syncs it,
// renames it over name and syncs the directory so the rename is durable.
// The temporary file is chowned to the workspace owner (if any) on its
// descriptor before the rename, so the file is never visible with the
// wrong owner.
func (w *Workspace) replaceFile(dir *os.Root, name string, data []byte) error {
	if st, err := dir.Lstat(name); err == nil && !st.Mode().IsRegular() {
		if st.Mode()&os.ModeSymlink != 0 {
			return ErrSymlink
		}
		return ErrNotRegular
	} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return publicCause(err)
	}
	tmp, err := tempName(name)
	if err != nil {
		return err
	}
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return publicCause(err)
	}
	oerr := w.chown(f)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(oerr, werr, serr, cerr); err != nil {
		_ = dir.Remove(tmp) // best-effort cleanup; the failed write is what is reported
		return ErrAccess
	}
	if err := dir.Rename(tmp, name); err != nil {
		_ = dir.Remove(tmp) // best-effort cleanup; the failed rename is what is reported
		return publicCause(err)
	}
	if d, err := dir.Open("."); err == nil {
		// Best effort, as before: the rename has happened and the file's
		// own data was synced; some filesystems refuse fsync on a directory.
		_ = d.Sync()
		closeRead(d)
	}
	return nil
}

func tempName(name string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("temp name: %w", err)
	}
	prefix := name
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return "." + prefix + ".tmp-" + hex.EncodeToString(b[:]), nil
}
