package limit

import "time"

// Bucket is the GCRA state of one key, kept in exact integers so that every
// implementation (memory, a Redis Lua script) computes the same answers.
//
// Debt is measured in unit·nanoseconds: one unit costs Period ns of debt, and
// debt drains at Limit per nanosecond, so a key holds at most Limit*Period of
// debt (a full burst of Limit units). At is when Debt was last computed, in
// Unix nanoseconds. A zero Bucket is a full, idle key.
type Bucket struct {
	Debt int64
	At   int64
}

// Drain returns b as seen at now (Unix ns) under r: debt paid down by the
// time elapsed. A drained bucket with zero debt is idle and may be forgotten.
func (b Bucket) Drain(r Rate, now int64) Bucket {
	if b.Debt <= 0 {
		return Bucket{At: now}
	}
	elapsed := now - b.At
	if elapsed <= 0 {
		return b // clocks may step back; never refill on a negative interval
	}
	// Compare before multiplying: elapsed*Limit may overflow, debt/Limit not.
	if elapsed >= ceilDiv(b.Debt, r.Limit) {
		return Bucket{At: now}
	}
	return Bucket{Debt: b.Debt - elapsed*r.Limit, At: now}
}

// Admit tries to charge cost units to a drained bucket. It returns the new
// bucket (unchanged when refused) and the decision.
func (b Bucket) Admit(r Rate, cost int64) (Bucket, Decision, error) {
	if cost > r.Limit {
		return b, b.decision(r, false, 0), ErrCostTooLarge
	}
	if cost < 0 {
		cost = 0
	}
	capacity := r.Limit * int64(r.Period)
	need := cost * int64(r.Period)
	if b.Debt+need > capacity {
		wait := ceilDiv(b.Debt+need-capacity, r.Limit)
		return b, b.decision(r, false, time.Duration(wait)), nil
	}
	b.Debt += need
	return b, b.decision(r, true, 0), nil
}

// Charge adds (delta > 0) or refunds (delta < 0) units without an admission
// check. Debt never drops below zero and never exceeds two full windows
// (usage beyond that is forgiven rather than risking overflow): an
// over-running caller waits at most one extra Period.
func (b Bucket) Charge(r Rate, delta int64) Bucket {
	delta = min(max(delta, -2*r.Limit), 2*r.Limit)
	b.Debt = min(max(b.Debt+delta*int64(r.Period), 0), 2*r.Limit*int64(r.Period))
	return b
}

func (b Bucket) decision(r Rate, allowed bool, retry time.Duration) Decision {
	capacity := r.Limit * int64(r.Period)
	remaining := int64(0)
	if b.Debt < capacity {
		remaining = (capacity - b.Debt) / int64(r.Period)
	}
	return Decision{
		Allowed:    allowed,
		Limit:      r.Limit,
		Remaining:  remaining,
		Reset:      time.Duration(ceilDiv(b.Debt, r.Limit)),
		RetryAfter: retry,
	}
}

// Tighter reports whether d is more restrictive than other: a refusal beats
// an admission, a longer wait beats a shorter one, fewer remaining units beat
// more.
func (d Decision) Tighter(other Decision) bool {
	switch {
	case d.Allowed != other.Allowed:
		return !d.Allowed
	case !d.Allowed:
		return d.RetryAfter > other.RetryAfter
	default:
		return d.Remaining < other.Remaining
	}
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
