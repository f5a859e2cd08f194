package cli

import (
	"flag"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// limitFlags are the limit options of keys create and keys update.
type limitFlags struct {
	rpm, tpm, parallel *int64
	budget, period     *string
}

func registerLimitFlags(fs *flag.FlagSet) *limitFlags {
	return &limitFlags{
		rpm:      fs.Int64("rpm", 0, "requests per minute (0: unlimited)"),
		tpm:      fs.Int64("tpm", 0, "tokens per minute, prompt + output (0: unlimited)"),
		parallel: fs.Int64("max-parallel", 0, "requests in flight at once (0: unlimited)"),
		budget:   fs.String("budget-usd", "", `spending limit in USD, e.g. 50 or 12.5 (update: "" removes it; 0 is a real $0 budget)`),
		period:   fs.String("budget-period", "", "budget period: daily, monthly or total (default total; UTC)"),
	}
}

// apply returns base with the flags that were set (set[name]) applied,
// validated, as stored in the key record's Limits.
func (l *limitFlags) apply(base limit.Spec, set map[string]bool) (limit.Spec, error) {
	sp := base
	if set["rpm"] {
		sp.RPM = *l.rpm
	}
	if set["tpm"] {
		sp.TPM = *l.tpm
	}
	if set["max-parallel"] {
		sp.MaxParallel = *l.parallel
	}
	if set["budget-usd"] {
		sp.BudgetUSD = nil
		if *l.budget != "" {
			v, err := limit.ParseUSD(*l.budget)
			if err != nil {
				return sp, fmt.Errorf("%w: --budget-usd: %w", errUsage, err)
			}
			usd := limit.USD(v)
			sp.BudgetUSD = &usd
		} else {
			sp.BudgetPeriod = ""
		}
	}
	if set["budget-period"] {
		sp.BudgetPeriod = limit.Period(*l.period)
	}
	if err := sp.Validate(); err != nil {
		return sp, fmt.Errorf("%w: %w", errUsage, err)
	}
	return sp, nil
}

// merge returns the limits edit of keys update as a function of the stored
// limits, for auth.KeyUpdate.MergeLimits: it runs inside the store's
// transaction, so a concurrent edit of another field is kept, not
// overwritten by a stale read. It is nil when no limit flag was set.
func (l *limitFlags) merge(set map[string]bool) func(string) (string, error) {
	if !set["rpm"] && !set["tpm"] && !set["max-parallel"] && !set["budget-usd"] && !set["budget-period"] {
		return nil
	}
	return func(stored string) (string, error) {
		base, err := limit.ParseSpec(stored)
		if err != nil {
			return "", fmt.Errorf("stored limits: %w", err)
		}
		sp, err := l.apply(base, set)
		if err != nil {
			return "", err
		}
		return sp.JSON(), nil
	}
}

// visited returns the names of the flags set on the command line.
func visited(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
