// Package fs implements Bulwark's file tools (fs_read, fs_list, fs_search,
// fs_write) over a workspace directory. Confinement is enforced by os.Root,
// so no path, however encoded, and no symlink, absolute or relative, can
// reach outside the workspace; only regular files are read or written (a
// planted FIFO or device cannot hang or leak); sizes are capped; writes are
// atomic; and .git directories are read-only. Errors name the caller's
// relative path, never the host path of the workspace.
package fs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"regexp"
	"syscall"
)

// Errors callers branch on (wrapped with the relative path in context).
var (
	ErrInvalidPath = errors.New("invalid path")
	ErrNotFound    = errors.New("no such file or directory")
	ErrOutside     = errors.New("path leaves the workspace")
	ErrNotRegular  = errors.New("not a regular file")
	ErrNotDir      = errors.New("not a directory")
	ErrTooLarge    = errors.New("too large")
	ErrReadOnly    = errors.New("read-only path")
	ErrSymlink     = errors.New("writes do not follow symbolic links")
	ErrAccess      = errors.New("cannot access path")
	ErrInvalidName = errors.New("invalid tenant name")
)

// Limits bounds what one call may do. Zero fields take the defaults.
type Limits struct {
	MaxReadBytes   int64 // per Read; default 1 MiB
	MaxWriteBytes  int64 // per Write; default 1 MiB
	MaxListEntries int   // per List; default 1000
	MaxSearchBytes int64 // bytes scanned per Search; default 16 MiB
	MaxSearchFiles int   // files opened per Search; default 5000
	MaxFileScan    int64 // bytes scanned per file in Search; default 1 MiB
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{
	MaxReadBytes:   1 << 20,
	MaxWriteBytes:  1 << 20,
	MaxListEntries: 1000,
	MaxSearchBytes: 16 << 20,
	MaxSearchFiles: 5000,
	MaxFileScan:    1 << 20,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxReadBytes > 0 {
		d.MaxReadBytes = l.MaxReadBytes
	}
	if l.MaxWriteBytes > 0 {
		d.MaxWriteBytes = l.MaxWriteBytes
	}
	if l.MaxListEntries > 0 {
		d.MaxListEntries = l.MaxListEntries
	}
	if l.MaxSearchBytes > 0 {
		d.MaxSearchBytes = l.MaxSearchBytes
	}
	if l.MaxSearchFiles > 0 {
		d.MaxSearchFiles = l.MaxSearchFiles
	}
	if l.MaxFileScan > 0 {
		d.MaxFileScan = l.MaxFileScan
	}
	return d
}

// Workspace is a directory the file tools are confined to. It is safe for
// concurrent use; Close it when done.
type Workspace struct {
	root   *os.Root
	limits Limits
	owner  *Owner // nil: files keep the owner Bulwark creates them with
}

// Open opens the workspace rooted at dir, which must exist.
func Open(dir string, limits Limits) (*Workspace, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: open workspace: %w", err)
	}
	return &Workspace{root: r, limits: limits.withDefaults()}, nil
}

var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ForTenant opens (creating if needed, mode 0700) the workspace
// <baseRoot>/<tenant>. The tenant name must be 1–64 letters, digits, '-' or
// '_' (no separators, no dots), so one tenant can never name another's
// directory; the tenant directory is opened through the base os.Root, so a
// symlink planted in its place (even one to another tenant) is refused.
func ForTenant(baseRoot, tenant string, limits Limits) (*Workspace, error) {
	if !tenantName.MatchString(tenant) {
		return nil, fmt.Errorf("fs: %w", ErrInvalidName)
	}
	base, err := os.OpenRoot(baseRoot)
	if err != nil {
		return nil, fmt.Errorf("fs: open workspace root: %w", err)
	}
	defer closeRead(base)
	r, _, err := openChildDir(base, tenant, 0o700)
	if err != nil {
		return nil, fmt.Errorf("fs: open tenant workspace: %w", err)
	}
	return &Workspace{root: r, limits: limits.withDefaults()}, nil
}

// Close releases the workspace's directory handle.
func (w *Workspace) Close() error { return w.root.Close() }

// closeRead closes a handle that nothing was written through (a file opened
// for reading, a directory or root handle): its close error loses no data,
// so there is nothing for the caller to act on.
func closeRead(c io.Closer) { _ = c.Close() }

// Limits returns the effective limits (defaults filled in).
func (w *Workspace) Limits() Limits { return w.limits }

// openRegular opens a validated path for reading without blocking (a FIFO
// opened O_RDONLY would otherwise wait for a writer forever) and refuses
// anything but a regular file, checked with fstat on the open descriptor so
// it cannot be swapped between check and use.
func (w *Workspace) openRegular(op, rel string) (*os.File, os.FileInfo, error) {
	f, err := w.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, opError(op, rel, err)
	}
	st, err := f.Stat()
	if err != nil {
		closeRead(f)
		return nil, nil, opError(op, rel, err)
	}
	if !st.Mode().IsRegular() {
		closeRead(f)
		return nil, nil, fmt.Errorf("fs: %s %q: %w", op, rel, ErrNotRegular)
	}
	return f, st, nil
}

// opError turns an os error into one that names only the caller's relative
// path and a stable sentinel; the host path and raw cause stay out.
func opError(op, rel string, err error) error {
	return fmt.Errorf("fs: %s %q: %w", op, rel, publicCause(err))
}

func publicCause(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return ErrNotFound
	case errors.As(err, &errno) && errno == syscall.ENOTDIR:
		return ErrNotDir
	case errors.As(err, &errno) && errno == syscall.ELOOP:
		return ErrOutside
	case isEscape(err):
		return ErrOutside
	case errors.As(err, &errno) && (errno == syscall.EISDIR || errno == syscall.ENXIO):
		return ErrNotRegular // a directory, or a socket (open gives ENXIO)
	}
	return ErrAccess
}

// isEscape recognises os.Root's refusal of a path or symlink leaving the
// root; os does not export that error, so match its stable text.
func isEscape(err error) bool {
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return err != nil && err.Error() == "path escapes from parent"
}
