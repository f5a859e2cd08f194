package mcp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/tools/fs"
)

// ErrWorkspaceUnreachable means the sandbox uid cannot reach the
// workspace root, so git and exec could never run in a tenant workspace.
var ErrWorkspaceUnreachable = errors.New("workspace root unreachable for the sandbox uid")

// workspaceOwner decides who owns tenant workspaces. Only one deployment
// needs an owner other than Bulwark's own uid: Bulwark runs as root and
// git or exec is enabled, so the sandbox drops to RunAsUID/RunAsGID and
// must own the workspace to use it. git and exec share a workspace, so
// they must agree on that uid.
func workspaceOwner(cfg BuiltinConfig, euid int) (*fs.Owner, error) {
	if euid != 0 {
		return nil, nil
	}
	var owners []fs.Owner
	if cfg.Git != nil {
		owners = append(owners, runAs(cfg.Git.Sandbox))
	}
	if cfg.Exec != nil {
		owners = append(owners, runAs(cfg.Exec.Sandbox))
	}
	if len(owners) == 0 {
		return nil, nil
	}
	if len(owners) == 2 && owners[0] != owners[1] {
		return nil, errors.New("mcp: git and exec share the tenant workspace, so their sandboxes must run as the same uid/gid")
	}
	o := owners[0]
	if err := checkReachable(cfg.WorkspaceRoot, o); err != nil {
		return nil, err
	}
	return &o, nil
}

// runAs is the host uid/gid a sandbox with cfg runs as under root (the
// sandbox package's defaults for zero fields).
func runAs(cfg sandbox.Config) fs.Owner {
	o := fs.Owner{UID: cfg.RunAsUID, GID: cfg.RunAsGID}
	if o.UID == 0 {
		o.UID = sandbox.DefaultUID
	}
	if o.GID == 0 {
		o.GID = sandbox.DefaultUID
	}
	return o
}

// checkReachable verifies that o may search every directory from / down
// to root (bwrap binds the tenant directory as the sandbox uid, so it must
// be able to walk the path). A deployment where git and exec could never
// work then fails at startup with the reason, not at the first call.
// Nothing is changed: the operator decides whether to grant o+x.
func checkReachable(root string, o fs.Owner) error {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("mcp: tools.workspace_root: %w", err)
	}
	for p := resolved; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("mcp: tools.workspace_root: %w", err)
		}
		if !st.IsDir() || !searchable(st, o) {
			return fmt.Errorf("%w: uid %d cannot enter %s (git and exec run as that uid when Bulwark runs as root); "+
				"fix: chmod o+x %s, or move tools.workspace_root", ErrWorkspaceUnreachable, o.UID, p, p)
		}
		if p == "/" {
			return nil
		}
	}
}

// searchable applies the kernel's owner/group/other rule for search
// permission on a directory, for a process of uid o.UID whose only group
// is o.GID (the sandbox drops supplementary groups).
func searchable(st os.FileInfo, o fs.Owner) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	mode := st.Mode().Perm()
	switch {
	case int(sys.Uid) == o.UID:
		return mode&0o100 != 0
	case int(sys.Gid) == o.GID:
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// startupError is the one-line error NewBuiltins returns when git or exec
// is enabled but the sandbox cannot be created. It still matches
// sandbox.ErrUnavailable with errors.Is.
type startupError struct {
	tool string
	err  error
}

func (e *startupError) Error() string {
	cause := strings.Join(strings.Fields(e.err.Error()), " ")
	return "tools." + e.tool + " is enabled but the bubblewrap sandbox cannot be created (" + cause + "); " +
		"fix: install bwrap and prlimit (Debian: apt-get install bubblewrap util-linux) or point tools.sandbox.bwrap_path and prlimit_path at them, " +
		"and allow unprivileged user namespaces " +
		"(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0; " +
		"in a container, allow user namespaces), or disable tools." + e.tool
}

func (e *startupError) Unwrap() error { return e.err }

// sandboxStartup wraps a constructor error of git or exec: a sandbox that
// cannot be created gets the operator-facing explanation.
func sandboxStartup(tool string, err error) error {
	if errors.Is(err, sandbox.ErrUnavailable) {
		return &startupError{tool: tool, err: err}
	}
	return fmt.Errorf("mcp: %s: %w", tool, err)
}
