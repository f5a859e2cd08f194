package memory

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark/internal/limit"
)

// Budget holds and settles money per scope and period. It is safe for
// concurrent use: one mutex makes each Reserve atomic across its scopes, so
// parallel reservations can never together exceed a limit.
//
// Bounds: a daily or monthly scope is dropped once its period has ended and
// no hold is pending in it; a total scope is dropped only while it has spent
// nothing. Live spend is never forgotten: when MaxKeys live scopes exist,
// Reserve on a new scope fails with limit.ErrCapacity. Holds are bounded by
// HoldTTL (see Options).
type Budget struct {
	opts Options

	mu        sync.Mutex
	scopes    map[string]*budgetEntry
	holds     map[string]hold
	seq       uint64
	lastSweep time.Time
}

type budgetEntry struct {
	period   limit.Period
	start    time.Time // start of the current period window (zero for total)
	end      time.Time
	spent    int64
	reserved int64
	holds    int // pending holds taken in this window
}

type hold struct {
	res     limit.BudgetReservation
	expires time.Time
}

var (
	_ limit.Budget       = (*Budget)(nil)
	_ limit.BudgetReader = (*Budget)(nil)
)

// NewBudget returns an empty budget store.
func NewBudget(opts Options) *Budget {
	return &Budget{
		opts:   opts.withDefaults(),
		scopes: make(map[string]*budgetEntry),
		holds:  make(map[string]hold),
	}
}

// Len returns the number of tracked scopes and pending holds.
func (b *Budget) Len() (scopes, holds int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.scopes), len(b.holds)
}

// Reserve implements limit.Budget.
func (b *Budget) Reserve(_ context.Context, scopes []limit.BudgetScope, worst int64) (limit.BudgetReservation, error) {
	if worst < 0 {
		return limit.BudgetReservation{}, fmt.Errorf("reserve: %w: negative cost", limit.ErrInvalidBudget)
	}
	for i, s := range scopes {
		if err := s.Validate(); err != nil {
			return limit.BudgetReservation{}, fmt.Errorf("reserve: %w", err)
		}
		for _, prev := range scopes[:i] {
			if prev.ID == s.ID {
				return limit.BudgetReservation{}, fmt.Errorf("reserve: %w: duplicate scope %q", limit.ErrInvalidBudget, s.ID)
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Clock.Now()
	b.maybeSweep(now)
	entries := make([]*budgetEntry, len(scopes))
	fresh := 0
	for i, s := range scopes {
		e := b.scopes[s.ID]
		if e == nil {
			fresh++
			e = &budgetEntry{}
		}
		e.roll(s.Period, now)
		if e.spent+e.reserved > s.LimitMicros-worst {
			return limit.BudgetReservation{}, &limit.BudgetExceededError{
				Scope: s, SpentMicros: e.spent, ReservedMicros: e.reserved, NeededMicros: worst,
			}
		}
		entries[i] = e
	}
	if fresh > 0 && len(b.scopes)+fresh > b.opts.MaxKeys {
		b.sweep(now)
		if len(b.scopes)+fresh > b.opts.MaxKeys {
			return limit.BudgetReservation{}, fmt.Errorf("budget: %w", limit.ErrCapacity)
		}
	}
	b.seq++
	res := limit.BudgetReservation{
		Token:   strconv.FormatUint(b.seq, 36),
		Micros:  worst,
		Windows: make([]limit.ScopeWindow, len(scopes)),
	}
	for i, e := range entries {
		e.reserved += worst
		e.holds++
		b.scopes[scopes[i].ID] = e
		res.Windows[i] = limit.ScopeWindow{ID: scopes[i].ID, Start: e.start}
	}
	b.holds[res.Token] = hold{res: res, expires: now.Add(b.opts.HoldTTL)}
	return res, nil
}

// Settle implements limit.Budget.
func (b *Budget) Settle(_ context.Context, res limit.BudgetReservation, actual int64) error {
	if actual < 0 {
		return fmt.Errorf("settle: %w: negative cost", limit.ErrInvalidBudget)
	}
	return b.finish(res.Token, actual)
}

// Release implements limit.Budget.
func (b *Budget) Release(_ context.Context, res limit.BudgetReservation) error {
	return b.finish(res.Token, 0)
}

// finish removes hold token and charges actual to each scope window it was
// taken in that is still current. An unknown token (already settled,
// released or expired) is a no-op, so settling twice cannot free money.
func (b *Budget) finish(token string, actual int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.holds[token]
	if !ok {
		return nil
	}
	delete(b.holds, token)
	b.apply(h.res, actual)
	return nil
}

func (b *Budget) apply(res limit.BudgetReservation, actual int64) {
	for _, w := range res.Windows {
		e := b.scopes[w.ID]
		if e == nil || !e.start.Equal(w.Start) {
			continue // the period ended; its spend ended with it
		}
		e.reserved -= res.Micros
		e.holds--
		e.spent += actual
	}
}

// Usage implements limit.BudgetReader.
func (b *Budget) Usage(_ context.Context, s limit.BudgetScope) (limit.BudgetUsage, error) {
	if err := s.Validate(); err != nil {
		return limit.BudgetUsage{}, fmt.Errorf("usage: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.opts.Clock.Now()
	start, end := s.Period.Window(now)
	u := limit.BudgetUsage{PeriodStart: start, PeriodEnd: end}
	if e := b.scopes[s.ID]; e != nil && e.start.Equal(start) && e.period == normPeriod(s.Period) {
		u.SpentMicros, u.ReservedMicros = e.spent, e.reserved
	}
	return u, nil
}

// roll moves e into the period window containing now, starting afresh when
// the window (or the configured period) changed.
func (e *budgetEntry) roll(p limit.Period, now time.Time) {
	p = normPeriod(p)
	start, end := p.Window(now)
	if e.period == p && e.start.Equal(start) {
		return
	}
	*e = budgetEntry{period: p, start: start, end: end}
}

func normPeriod(p limit.Period) limit.Period {
	if p == "" {
		return limit.PeriodTotal
	}
	return p
}

func (b *Budget) maybeSweep(now time.Time) {
	if now.Sub(b.lastSweep) >= b.opts.SweepEvery {
		b.sweep(now)
	}
}

// sweep settles expired holds at their worst case and drops scopes whose
// state equals a fresh one.
func (b *Budget) sweep(now time.Time) {
	b.lastSweep = now
	for token, h := range b.holds {
		if now.After(h.expires) {
			delete(b.holds, token)
			b.apply(h.res, h.res.Micros)
		}
	}
	for id, e := range b.scopes {
		ended := !e.end.IsZero() && !now.Before(e.end)
		if (ended || e.spent == 0) && e.holds == 0 && (ended || e.reserved == 0) {
			delete(b.scopes, id)
		}
	}
}
