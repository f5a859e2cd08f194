package limit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalidSpec is wrapped by every error of ParseSpec, Spec.Validate and
// ParseUSD.
var ErrInvalidSpec = errors.New("limit: invalid limits")

// Spec is the limits of one key or tenant as an operator writes them: the
// JSON stored in a key record's Limits field (bulwark keys create --rpm
// --tpm --max-parallel --budget-usd --budget-period, and the admin API) and
// the YAML of the limits.tenants section. Zero RPM, TPM and MaxParallel mean
// unlimited; a nil BudgetUSD means no budget, so a $0 budget is expressible.
type Spec struct {
	RPM         int64 `json:"rpm,omitempty" yaml:"rpm"`
	TPM         int64 `json:"tpm,omitempty" yaml:"tpm"`
	MaxParallel int64 `json:"max_parallel,omitempty" yaml:"max_parallel"`
	// BudgetUSD is a decimal dollar amount with at most six decimals
	// ("50", "0.25"), kept as text so it converts to micro-USD exactly.
	BudgetUSD    *USD   `json:"budget_usd,omitempty" yaml:"budget_usd"`
	BudgetPeriod Period `json:"budget_period,omitempty" yaml:"budget_period"`
}

// USD is an exact amount of money in integer micro-USD that reads and
// writes as a decimal dollar number (JSON and YAML): 1.5 is 1_500_000.
type USD int64

// ParseUSD converts a decimal dollar amount ("50", "0.000001", "1e2" is
// refused) to micro-USD exactly: at most six decimals, not negative, at
// most $9 trillion.
func ParseUSD(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || !digits(whole) || (hasDot && (frac == "" || !digits(frac))) {
		return 0, fmt.Errorf("%w: %q is not a dollar amount like 50 or 12.34", ErrInvalidSpec, s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%w: %q has more than six decimals", ErrInvalidSpec, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1_000_000-1 || w > 9_000_000_000_000 {
		return 0, fmt.Errorf("%w: %q is too large", ErrInvalidSpec, s)
	}
	f, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return w*1_000_000 + f, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String renders u as dollars without trailing zeros ("50", "0.25").
func (u USD) String() string {
	s := strings.TrimPrefix(FormatUSD(int64(u)), "$")
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// MarshalJSON writes u as a JSON number of dollars.
func (u USD) MarshalJSON() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalJSON reads a JSON number (or numeric string) of dollars exactly.
func (u *USD) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	v, err := ParseUSD(string(b))
	if err != nil {
		return err
	}
	*u = USD(v)
	return nil
}

// UnmarshalText reads dollars from YAML or flags.
func (u *USD) UnmarshalText(b []byte) error { return u.UnmarshalJSON(b) }

// UnmarshalYAML reads a YAML scalar of dollars exactly (no float detour).
func (u *USD) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%w: budget_usd must be a number", ErrInvalidSpec)
	}
	return u.UnmarshalJSON([]byte(n.Value))
}

// MarshalText writes dollars.
func (u USD) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// ParseSpec decodes the Limits JSON of a key record strictly: unknown
// fields, negative limits and unknown periods are errors. An empty string
// is the zero Spec (no limits). Valid texts are remembered (see
// specCache), so the request path pays one map lookup per call.
func ParseSpec(s string) (Spec, error) {
	if strings.TrimSpace(s) == "" {
		return Spec{}, nil
	}
	if sp, ok := parsedSpecs.get(s); ok {
		return sp, nil
	}
	sp, err := parseSpec(s)
	if err != nil {
		return Spec{}, err
	}
	parsedSpecs.put(s, sp)
	return sp, nil
}

// parseSpec is ParseSpec without the cache.
func parseSpec(s string) (Spec, error) {
	var sp Spec
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if dec.More() {
		return Spec{}, fmt.Errorf("%w: trailing data", ErrInvalidSpec)
	}
	if err := sp.Validate(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// Validate refuses negative limits, rates that cannot be enforced exactly
// and unknown periods, and a period without a budget.
func (s Spec) Validate() error {
	if s.RPM < 0 || s.TPM < 0 || s.MaxParallel < 0 {
		return fmt.Errorf("%w: rpm, tpm and max_parallel must not be negative", ErrInvalidSpec)
	}
	for _, n := range []int64{s.RPM, s.TPM} {
		if n > 0 {
			if err := PerMinute(n).Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
			}
		}
	}
	if s.BudgetUSD != nil && *s.BudgetUSD < 0 {
		return fmt.Errorf("%w: budget_usd must not be negative", ErrInvalidSpec)
	}
	if s.BudgetPeriod != "" && s.BudgetUSD == nil {
		return fmt.Errorf("%w: budget_period needs budget_usd", ErrInvalidSpec)
	}
	if _, err := ParsePeriod(string(s.BudgetPeriod)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return nil
}

// IsZero reports whether s sets no limit at all.
func (s Spec) IsZero() bool {
	return s.RPM == 0 && s.TPM == 0 && s.MaxParallel == 0 && s.BudgetUSD == nil
}

// JSON encodes s for a key record ("" for the zero Spec).
func (s Spec) JSON() string {
	if s.IsZero() {
		return ""
	}
	b, _ := json.Marshal(s) // plain fields: cannot fail
	return string(b)
}

// Subject returns the limit.Subject for id ("key:<id>", "tenant:<t>").
func (s Spec) Subject(id string) Subject {
	sub := Subject{ID: id, RPM: s.RPM, TPM: s.TPM, MaxParallel: s.MaxParallel}
	if s.BudgetUSD != nil {
		p, _ := ParsePeriod(string(s.BudgetPeriod)) // validated
		sub.Budgeted, sub.BudgetMicros, sub.BudgetPeriod = true, int64(*s.BudgetUSD), p
	}
	return sub
}

// Active reports whether sub has any limit the Gate would apply.
func (sub Subject) Active() bool {
	return sub.RPM > 0 || sub.TPM > 0 || sub.MaxParallel > 0 || sub.Budgeted
}
