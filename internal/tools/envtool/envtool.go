// Package envtool implements Bulwark's env_get tool: it returns the value of
// an environment variable only if the operator named it, exactly, in an
// allowlist. There is no globbing, prefix or case folding: "HOME" on the
// list does not allow "home", "HOME_DIR" or "HOM*". Any other name is
// refused whatever it looks like, so the gateway's own secrets (master key,
// provider keys) can never be read through this tool unless an operator
// lists them by name.
package envtool

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Errors callers branch on.
var (
	ErrNotAllowed = errors.New("environment variable not allowed")
	ErrNotSet     = errors.New("environment variable not set")
	ErrBadConfig  = errors.New("invalid env tool allowlist")
)

// Tool answers env_get calls. It is immutable after New and safe for
// concurrent use.
type Tool struct {
	allow  map[string]bool
	lookup func(string) (string, bool)
}

// New builds the tool from the operator's allowlist (tools.env.allow). Each
// entry must be a plain variable name: letters, digits and underscores, not
// starting with a digit; anything else (a glob, "=", spaces) is a
// configuration error rather than something silently ignored.
func New(allow []string) (*Tool, error) {
	t := &Tool{allow: map[string]bool{}, lookup: os.LookupEnv}
	for _, name := range allow {
		if !validName(name) {
			return nil, fmt.Errorf("%w: %q is not a plain variable name", ErrBadConfig, name)
		}
		t.allow[name] = true
	}
	return t, nil
}

func validName(n string) bool {
	if n == "" || len(n) > 256 || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	return strings.IndexFunc(n, func(r rune) bool { return !nameRune(r) }) < 0
}

// nameRune reports whether r may appear in an environment variable name:
// ASCII letters, digits and '_'.
func nameRune(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_'
}

// Get returns the value of name if it is on the allowlist and set. The
// refusal does not say whether the variable exists.
func (t *Tool) Get(name string) (string, error) {
	if !t.allow[name] {
		return "", fmt.Errorf("envtool: %w: %q", ErrNotAllowed, printable(name))
	}
	v, ok := t.lookup(name)
	if !ok {
		return "", fmt.Errorf("envtool: %w: %q", ErrNotSet, name)
	}
	return v, nil
}

// Allowed returns the allowlisted names, sorted (for tool descriptions).
func (t *Tool) Allowed() []string {
	names := make([]string, 0, len(t.allow))
	for n := range t.allow {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// printable shortens a refused name for the error message.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
