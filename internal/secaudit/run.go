package secaudit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/bulwarkhq/bulwark/internal/config"
)

// Defaults for Input's ages.
const (
	// DefaultMaxKeyAge is how long the keyring's active term may encrypt
	// before BW-BAR-001 asks for `bulwark rotate`.
	DefaultMaxKeyAge = 90 * 24 * time.Hour
	// StaleKeyAge is how long an active virtual key may go unused before
	// BW-KEY-003 suggests revoking it.
	StaleKeyAge = 90 * 24 * time.Hour
)

// Input is what an audit reads. Config is required; the rest is optional.
type Input struct {
	Config *config.Config
	// ConfigPath is the file Config was loaded from ("" for none).
	ConfigPath string
	// Getenv reads the environment providers take credentials from
	// (default os.Getenv).
	Getenv func(string) string
	// Now is the audit's clock (default time.Now).
	Now func() time.Time
	// MaxKeyAge bounds the age of the keyring's active term (default
	// DefaultMaxKeyAge).
	MaxKeyAge time.Duration
	// Log receives the store's diagnostics while it is open (default: none).
	Log *slog.Logger
}

func (in *Input) defaults() {
	if in.Getenv == nil {
		in.Getenv = os.Getenv
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	if in.MaxKeyAge <= 0 {
		in.MaxKeyAge = DefaultMaxKeyAge
	}
	if in.Log == nil {
		in.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Run performs the offline audit: file modes, configuration, and the state
// in the data directory (keys, providers, keyring, audit chain). It never
// listens or dials, and it opens the store only when the data directory
// already holds one, so auditing a fresh path creates nothing. Findings
// come sorted, most urgent first.
func Run(ctx context.Context, in Input) []Finding {
	in.defaults()
	out := checkFiles(in)
	out = append(out, checkConfig(in)...)
	out = append(out, checkState(ctx, in)...)
	Sort(out)
	return out
}

// Applied is one fix Fix made.
type Applied struct {
	ID   string `json:"id"`
	Path string `json:"path"`
	From string `json:"from"` // octal mode before
	To   string `json:"to"`   // octal mode after
}

// Fix applies the safe fixes among found: it removes group and other
// permission bits from files and directories owned by the user running it.
// Nothing else is ever changed, so no fix can lock anyone out or change how
// the gateway behaves. Fix is idempotent: a path already right is skipped.
// It returns what it changed; an error names the path that failed after
// the fixes before it were applied.
func Fix(found []Finding) ([]Applied, error) {
	var done []Applied
	for _, f := range found {
		if !f.Fixable || f.repair.path == "" {
			continue
		}
		a, changed, err := chmodClear(f.repair)
		if err != nil {
			return done, fmt.Errorf("fix %s: %w", f.ID, err)
		}
		if changed {
			a.ID = f.ID
			done = append(done, a)
		}
	}
	return done, nil
}

// errNotOwned refuses to change a path another user owns.
var errNotOwned = errors.New("owned by another user")

// chmodClear clears r.clear from r.path's mode through an open descriptor,
// refusing symbolic links, so what is checked is what is changed.
func chmodClear(r repair) (Applied, bool, error) {
	flags := os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	if r.dir {
		flags |= syscall.O_DIRECTORY
	}
	f, err := os.OpenFile(r.path, flags, 0)
	if err != nil {
		return Applied{}, false, fmt.Errorf("open %s: %w", r.path, err)
	}
	defer func() { _ = f.Close() }() // read-only descriptor
	fi, err := f.Stat()
	if err != nil {
		return Applied{}, false, fmt.Errorf("stat %s: %w", r.path, err)
	}
	if uid, ok := owner(fi); !ok || uid != os.Geteuid() {
		return Applied{}, false, fmt.Errorf("%s: %w", r.path, errNotOwned)
	}
	perm := fi.Mode().Perm()
	want := perm &^ r.clear
	if want == perm {
		return Applied{}, false, nil
	}
	if err := f.Chmod(want | (fi.Mode() & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))); err != nil {
		return Applied{}, false, fmt.Errorf("chmod %s: %w", r.path, err)
	}
	return Applied{Path: r.path, From: fmt.Sprintf("%04o", perm), To: fmt.Sprintf("%04o", want)}, true, nil
}
