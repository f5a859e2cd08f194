package fs

import (
	"fmt"
	iofs "io/fs"
	"os"
	"syscall"
)

// Owner is the host uid and gid that must own everything the file tools
// create in a tenant workspace. It exists for one deployment: Bulwark runs
// as root and its git and exec tools run in a sandbox that drops to an
// unprivileged uid (sandbox.Config.RunAsUID). Files that root creates with
// mode 0644 and directories with 0700 would then be unreadable or
// unwritable inside the sandbox. Rather than widen any permission to group
// or other, the workspace is handed to the sandbox uid: the tenant
// directory (0700), every directory fs_write creates and every file it
// writes are chowned to Owner on the open descriptor before they become
// visible, so root still reaches them (it bypasses permission checks) and
// the sandbox uid owns them. The zero Owner is not valid; use a nil *Owner
// for "leave ownership as created".
type Owner struct {
	UID, GID int
}

// ForTenantOwned is ForTenant for a workspace shared with a sandbox that
// runs as owner (see Owner). A tenant directory found with another owner
// (created by an older release, or by hand) is taken over: the directory
// tree is chowned to owner through the os.Root, so no symlink in it can
// redirect the change outside the workspace. A nil owner behaves exactly
// like ForTenant.
func ForTenantOwned(baseRoot, tenant string, limits Limits, owner *Owner) (*Workspace, error) {
	if owner != nil && (owner.UID <= 0 || owner.GID <= 0) {
		return nil, fmt.Errorf("fs: workspace owner must be a non-root uid/gid")
	}
	w, err := ForTenant(baseRoot, tenant, limits)
	if err != nil || owner == nil {
		return w, err
	}
	w.owner = owner
	if err := w.adopt(); err != nil {
		_ = w.Close() // the adopt failure is what the caller needs
		return nil, fmt.Errorf("fs: hand tenant workspace to the sandbox uid: %w", err)
	}
	return w, nil
}

// adopt makes sure the workspace root belongs to the owner. When it does
// not, everything below it is chowned too (without following symlinks), so
// a tree written before ownership was configured becomes usable in the
// sandbox.
func (w *Workspace) adopt() error {
	d, err := w.root.Open(".")
	if err != nil {
		return err
	}
	defer closeRead(d)
	st, err := d.Stat()
	if err != nil {
		return err
	}
	if ownedBy(st, w.owner) {
		return nil
	}
	if err := iofs.WalkDir(w.root.FS(), ".", func(p string, _ iofs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		return w.root.Lchown(p, w.owner.UID, w.owner.GID)
	}); err != nil {
		return err
	}
	// The root last: until now the sandbox could not use the tree.
	return d.Chown(w.owner.UID, w.owner.GID)
}

// chown gives an open descriptor to the owner, if one is configured.
// Using the descriptor (fchown) rather than a path means a rename or
// symlink swap in between cannot redirect it.
func (w *Workspace) chown(f *os.File) error {
	if w.owner == nil {
		return nil
	}
	return f.Chown(w.owner.UID, w.owner.GID)
}

// chownDir is chown for a directory held as an os.Root.
func (w *Workspace) chownDir(r *os.Root) error {
	if w.owner == nil {
		return nil
	}
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	defer closeRead(d)
	return d.Chown(w.owner.UID, w.owner.GID)
}

func ownedBy(st os.FileInfo, o *Owner) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == o.UID && int(sys.Gid) == o.GID
}
