package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Read returns up to limit bytes of the regular file at p starting at
// offset. A limit of 0 (or above the workspace's MaxReadBytes) reads up to
// MaxReadBytes. Reading past the end returns an empty slice.
func (w *Workspace) Read(p string, offset, limit int64) ([]byte, error) {
	rel, err := ValidatePath(p)
	if err != nil {
		return nil, fmt.Errorf("fs: read: %w", err)
	}
	if offset < 0 || limit < 0 {
		return nil, fmt.Errorf("fs: read %q: %w: negative offset or limit", rel, ErrInvalidPath)
	}
	if limit == 0 || limit > w.limits.MaxReadBytes {
		limit = w.limits.MaxReadBytes
	}
	f, st, err := w.openRegular("read", rel)
	if err != nil {
		return nil, err
	}
	defer closeRead(f)
	if offset >= st.Size() {
		return []byte{}, nil
	}
	buf := make([]byte, min(limit, st.Size()-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, opError("read", rel, err)
	}
	return buf[:n], nil
}

// Entry is one item of a directory listing.
type Entry struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"` // "file", "dir", "symlink" or "other"
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// List returns the entries of directory p ("." for the workspace root),
// sorted by name, at most MaxListEntries of them. Symlinks are reported as
// such, not followed.
func (w *Workspace) List(p string) ([]Entry, error) {
	rel, err := ValidatePath(p)
	if err != nil {
		return nil, fmt.Errorf("fs: list: %w", err)
	}
	f, err := w.openDir(rel)
	if err != nil {
		return nil, opError("list", rel, err)
	}
	defer closeRead(f)
	// Read a bounded number of entries (a huge directory must not exhaust
	// memory), then sort and cut to the list cap.
	des, err := f.ReadDir(maxSearchEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, opError("list", rel, err)
	}
	slices.SortFunc(des, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	des = des[:min(len(des), w.limits.MaxListEntries)]
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		e := Entry{Name: de.Name(), Type: entryType(de.Type())}
		if info, err := de.Info(); err == nil {
			e.Size, e.ModTime = info.Size(), info.ModTime().UTC()
		}
		out = append(out, e)
	}
	return out, nil
}

// openDir opens a directory without blocking and without accepting anything
// that is not a directory (O_DIRECTORY fails on a FIFO instead of waiting).
func (w *Workspace) openDir(rel string) (*os.File, error) {
	return w.root.OpenFile(rel, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
}

func entryType(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&os.ModeSymlink != 0:
		return "symlink"
	}
	return "other"
}

// join builds a workspace-relative path ("." stays out of the result).
func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return path.Join(dir, name)
}
