package guard

import (
	"fmt"
	"strings"
)

// SkipHeader is the per-request opt-out header. The caller must honour it
// only for keys holding ScopeBypass, and audit every use.
const SkipHeader = "x-bulwark-guard-skip"

// ScopeBypass is the key scope that allows SkipHeader.
const ScopeBypass = "guard:bypass"

// ParseSkip reads a SkipHeader value such as "pii,secrets": a comma-separated
// list of families (pii, secrets, injection), each at most once. Anything
// else is an ErrInvalidPolicy error, so a typo never silently skips nothing
// or everything.
func ParseSkip(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		f := strings.ToLower(strings.TrimSpace(item))
		switch f {
		case FamilyPII, FamilySecrets, FamilyInjection:
		default:
			return nil, fmt.Errorf("%w: %s: unknown family %q", ErrInvalidPolicy, SkipHeader, clip(item))
		}
		if seen[f] {
			return nil, fmt.Errorf("%w: %s: %q repeated", ErrInvalidPolicy, SkipHeader, f)
		}
		seen[f] = true
		out = append(out, f)
	}
	return out, nil
}

// Without returns p with the given families turned off (for an audited
// bypass). Unscannable handling is kept.
func (p Policy) Without(families ...string) Policy {
	for _, f := range families {
		switch f {
		case FamilyPII:
			p.PII = Off
		case FamilySecrets:
			p.Secrets = Off
		case FamilyInjection:
			p.Injection = Off
		}
	}
	return p
}
