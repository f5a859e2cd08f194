package store

import (
	"context"
	"fmt"
)

// AuditTx is what the chain logic needs from a store's write transaction:
// the newest row, the retention anchor and an insert. Each implementation
// owns its SQL dialect and locking; AppendAudit owns how a row is chained,
// so every store chains the same way.
type AuditTx interface {
	// Head returns the newest row, or nil when the table is empty.
	Head(ctx context.Context) (*AuditRow, error)
	// Anchor returns the retention anchor, or nil if nothing was purged.
	Anchor(ctx context.Context) (*AuditAnchor, error)
	// Insert stores row as built.
	Insert(ctx context.Context, row AuditRow) error
}

// AuditPurgeTx adds what PurgeAudit needs to AuditTx.
type AuditPurgeTx interface {
	AuditTx
	// HasRow reports whether the row seq exists with that MAC.
	HasRow(ctx context.Context, seq int64, mac string) (bool, error)
	// DeleteThrough deletes the rows with Seq <= upTo.
	DeleteThrough(ctx context.Context, upTo int64) error
	// SetAnchor replaces the retention anchor.
	SetAnchor(ctx context.Context, a AuditAnchor) error
}

// AppendAudit inserts, through tx, the rows fns build, each from the row
// before it — the first from the chain's head; when retention purged
// every row the anchor stands in for the head (its Seq and PrevMAC), so
// the chain keeps counting across a purge. Nil fns append nothing; the
// last row appended is returned (nil when none was). The head is read
// once, so a batch costs one lookup however many rows it chains. The
// caller's transaction must keep other writers from reading the same head
// until it ends.
//
// Errors of tx are returned as they are: each implementation already names
// its store and the step that failed.
func AppendAudit(ctx context.Context, tx AuditTx, fns ...AuditFunc) (*AuditRow, error) {
	var prev *AuditRow
	headRead := false
	for _, fn := range fns {
		if fn == nil {
			continue
		}
		if !headRead {
			var err error
			if prev, err = chainHead(ctx, tx); err != nil {
				return nil, err
			}
			headRead = true
		}
		row, err := fn(prev)
		if err != nil {
			return nil, err
		}
		if err := tx.Insert(ctx, row); err != nil {
			return nil, err
		}
		prev = &row
	}
	return prev, nil
}

// chainHead is the row a new entry chains after: the newest row, else
// the retention anchor standing in for the purged rows, else nil.
func chainHead(ctx context.Context, tx AuditTx) (*AuditRow, error) {
	prev, err := tx.Head(ctx)
	if err != nil || prev != nil {
		return prev, err
	}
	anchor, err := tx.Anchor(ctx)
	if err != nil || anchor == nil {
		return nil, err
	}
	return &AuditRow{Seq: anchor.Seq, MAC: anchor.PrevMAC}, nil
}

// PurgeAudit deletes, through tx, the rows up to upTo, records anchor and
// appends the row audit builds (Store.PurgeAudit's contract). It changes
// nothing and returns ErrConflict when the anchor already stands at or
// beyond upTo, or when the row the anchor names (anchor.Seq with MAC
// anchor.PrevMAC) is no longer there as planned.
func PurgeAudit(ctx context.Context, tx AuditPurgeTx, upTo int64, anchor AuditAnchor, audit AuditFunc) error {
	cur, err := tx.Anchor(ctx)
	if err != nil {
		return err
	}
	if cur != nil && cur.Seq >= upTo {
		return fmt.Errorf("audit anchor already at %d: %w", cur.Seq, ErrConflict)
	}
	ok, err := tx.HasRow(ctx, anchor.Seq, anchor.PrevMAC)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("audit entry %d changed since the purge was planned: %w", anchor.Seq, ErrConflict)
	}
	if err := tx.DeleteThrough(ctx, upTo); err != nil {
		return err
	}
	if err := tx.SetAnchor(ctx, anchor); err != nil {
		return err
	}
	_, err = AppendAudit(ctx, tx, audit)
	return err
}
