package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Period is how often a budget starts again. Boundaries are in UTC.
type Period string

// Budget periods. An empty Period means PeriodTotal.
const (
	PeriodDaily   Period = "daily"   // resets at 00:00 UTC
	PeriodMonthly Period = "monthly" // resets at 00:00 UTC on the 1st
	PeriodTotal   Period = "total"   // never resets
)

// ErrInvalidBudget is returned for a BudgetScope that cannot be enforced.
var ErrInvalidBudget = errors.New("limit: invalid budget")

// ParsePeriod validates a configured period; "" means PeriodTotal.
func ParsePeriod(s string) (Period, error) {
	switch Period(s) {
	case "", PeriodTotal:
		return PeriodTotal, nil
	case PeriodDaily, PeriodMonthly:
		return Period(s), nil
	}
	return "", fmt.Errorf("%w: unknown period %q (want daily, monthly or total)", ErrInvalidBudget, s)
}

// Window returns the start and end of the period containing t, in UTC. The
// total period has a zero start and a zero end (it never ends).
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case PeriodDaily:
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case PeriodMonthly:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return time.Time{}, time.Time{}
}

// BudgetScope is one budget a request must fit in: ID names it (for example
// "key:<id>" or "tenant:<t>") and appears in ErrBudgetExceeded.
type BudgetScope struct {
	ID          string
	LimitMicros int64
	Period      Period
}

// Validate reports whether s can be enforced.
func (s BudgetScope) Validate() error {
	if s.ID == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidBudget)
	}
	if s.LimitMicros < 0 {
		return fmt.Errorf("%w: %s: negative limit", ErrInvalidBudget, s.ID)
	}
	if _, err := ParsePeriod(string(s.Period)); err != nil {
		return fmt.Errorf("%s: %w", s.ID, err)
	}
	return nil
}

// BudgetExceededError says which budget could not cover a request. Match it
// with errors.Is(err, ErrBudgetExceeded) or errors.As for the details.
type BudgetExceededError struct {
	Scope          BudgetScope
	SpentMicros    int64 // settled in the current period
	ReservedMicros int64 // held by requests in flight
	NeededMicros   int64 // the worst-case cost that did not fit
}

// ErrBudgetExceeded is the sentinel matched by every *BudgetExceededError.
var ErrBudgetExceeded = errors.New("budget exceeded")

// Error names the budget, its limit and period, and the amounts involved.
func (e *BudgetExceededError) Error() string {
	period := e.Scope.Period
	if period == "" {
		period = PeriodTotal
	}
	return fmt.Sprintf("budget %q (%s, %s) exceeded: spent %s, reserved %s, request needs up to %s",
		e.Scope.ID, FormatUSD(e.Scope.LimitMicros), period,
		FormatUSD(e.SpentMicros), FormatUSD(e.ReservedMicros), FormatUSD(e.NeededMicros))
}

// Is makes errors.Is(err, ErrBudgetExceeded) true.
func (e *BudgetExceededError) Is(target error) bool { return target == ErrBudgetExceeded }

// FormatUSD renders micro-USD as dollars with six decimals ("$1.250000").
func FormatUSD(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	return fmt.Sprintf("%s$%d.%06d", sign, micros/1_000_000, micros%1_000_000)
}

// BudgetReservation is money held for one request until it is settled or
// released. It is a value the caller keeps; implementations identify the
// hold by Token and the period windows it was taken in.
type BudgetReservation struct {
	Token   string
	Micros  int64
	Windows []ScopeWindow
}

// ScopeWindow is one scope charged by a reservation, with the start of the
// period window the money was held in (zero for total budgets).
type ScopeWindow struct {
	ID    string
	Start time.Time
}

// Budget holds, settles and releases money across several scopes atomically.
// Implementations are safe for concurrent use; parallel reservations can
// never together exceed any scope's limit.
type Budget interface {
	// Reserve holds worstCaseMicros in every scope, or in none: when one
	// scope cannot cover it, it returns a *BudgetExceededError naming it.
	Reserve(ctx context.Context, scopes []BudgetScope, worstCaseMicros int64) (BudgetReservation, error)
	// Settle replaces the hold with the actual cost (which may exceed the
	// hold if the upstream reported more than the worst case: the truth is
	// recorded). Cost is charged to the period the hold was taken in; if
	// that period has ended it is dropped with it.
	Settle(ctx context.Context, res BudgetReservation, actualMicros int64) error
	// Release drops the hold without charging anything (the call failed
	// before incurring cost).
	Release(ctx context.Context, res BudgetReservation) error
}

// BudgetUsage is the state of one scope in its current period.
type BudgetUsage struct {
	SpentMicros    int64
	ReservedMicros int64
	PeriodStart    time.Time
	PeriodEnd      time.Time
}

// BudgetReader is the optional read side of a Budget, for the admin API and
// tests.
type BudgetReader interface {
	Usage(ctx context.Context, scope BudgetScope) (BudgetUsage, error)
}
