// Package secaudit checks a Bulwark installation for insecure settings and
// state: file modes of the data directory, the configuration, keys,
// provider credentials, the keyring and the audit chain (Run, offline), and
// a running gateway from the outside (Probe). Fix applies the few fixes that
// are safe to make unattended (file modes). Findings name things by id,
// path and mode only: a finding never carries a secret value.
package secaudit

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Severity ranks a finding. The zero value is Info.
type Severity int

// Severities, from least to most urgent.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// ErrSeverity is wrapped by ParseSeverity for a name it does not know.
var ErrSeverity = errors.New("unknown severity")

// String returns the lower-case name ("high").
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText encodes the severity by name, so JSON output reads "high".
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > Critical {
		return nil, fmt.Errorf("%w: %d", ErrSeverity, int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("%w %q (want %s)", ErrSeverity, name, strings.Join(severityNames[:], ", "))
}

// Finding is one problem found. ID is stable across releases (BW-FS-001)
// and documented in docs/security.md; Evidence names ids, paths and modes,
// never a secret. A Finding is a plain value, safe to copy.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Evidence string   `json:"evidence"`
	Fix      string   `json:"fix"`
	// Fixable is true when Fix (the function) can repair it unattended.
	Fixable bool `json:"fixable,omitempty"`

	// repair is what Fix applies; zero for findings it leaves alone.
	repair repair
}

// repair is a mode change Fix may make: clear the bits in clear from the
// permissions of path (a directory when dir is set).
type repair struct {
	path  string
	clear fs.FileMode
	dir   bool
}

// AtLeast reports how many findings have severity floor or above.
func AtLeast(found []Finding, floor Severity) int {
	n := 0
	for _, f := range found {
		if f.Severity >= floor {
			n++
		}
	}
	return n
}

// Sort orders findings by severity (most urgent first), then id, then
// evidence, so output is stable from run to run. Run and Probe return
// sorted findings; use Sort after joining their results.
func Sort(found []Finding) {
	slices.SortStableFunc(found, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.Evidence, b.Evidence)
	})
}
