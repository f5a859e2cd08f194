package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/store"
)

const auditColumns = "seq, ts, tenant, actor, action, target, outcome, request_id, details, mac"

func scanAudit(r scanner) (*store.AuditRow, error) {
	var a store.AuditRow
	var ts int64
	if err := r.Scan(&a.Seq, &ts, &a.Tenant, &a.Actor, &a.Action, &a.Target, &a.Outcome, &a.RequestID, &a.Details, &a.MAC); err != nil {
		return nil, err
	}
	a.Time = fromMillis(ts)
	return &a, nil
}

func auditHead(ctx context.Context, q querier) (*store.AuditRow, error) {
	a, err := scanAudit(q.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_events ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit head: %w", err)
	}
	return a, nil
}

// appendAuditTx appends the row fn builds from the current head inside tx.
// A nil fn appends nothing. Chains that were purged keep counting from the
// anchor.
func appendAuditTx(ctx context.Context, tx *sql.Tx, fn store.AuditFunc) error {
	_, err := appendAudit(ctx, tx, fn)
	return err
}

func appendAudit(ctx context.Context, tx *sql.Tx, fn store.AuditFunc) (*store.AuditRow, error) {
	if fn == nil {
		return nil, nil
	}
	prev, err := auditHead(ctx, tx)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		anchor, err := auditAnchor(ctx, tx)
		if err != nil {
			return nil, err
		}
		if anchor != nil {
			prev = &store.AuditRow{Seq: anchor.Seq, MAC: anchor.PrevMAC}
		}
	}
	row, err := fn(prev)
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO audit_events("+auditColumns+") VALUES (?,?,?,?,?,?,?,?,?,?)",
		row.Seq, millis(row.Time), row.Tenant, row.Actor, row.Action, row.Target, row.Outcome, row.RequestID, row.Details, row.MAC)
	if err != nil {
		return nil, fmt.Errorf("sqlite: append audit: %w", err)
	}
	return &row, nil
}

// AppendAudit appends one row in its own durable transaction.
func (s *Store) AppendAudit(ctx context.Context, fn store.AuditFunc) (*store.AuditRow, error) {
	var out *store.AuditRow
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := appendAudit(ctx, tx, fn)
		out = r
		return err
	})
	return out, err
}

// AuditRows calls fn for each row with seq > afterSeq, in order.
func (s *Store) AuditRows(ctx context.Context, afterSeq int64, fn func(store.AuditRow) error) error {
	rows, err := s.db.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_events WHERE seq > ? ORDER BY seq", afterSeq)
	if err != nil {
		return fmt.Errorf("sqlite: audit rows: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("sqlite: audit rows: %w", err)
		}
		if err := fn(*a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditHead returns the newest row, or nil on an empty chain.
func (s *Store) AuditHead(ctx context.Context) (*store.AuditRow, error) {
	return auditHead(ctx, s.db)
}

func auditAnchor(ctx context.Context, q querier) (*store.AuditAnchor, error) {
	var a store.AuditAnchor
	err := q.QueryRowContext(ctx, "SELECT seq, prev_mac, mac FROM audit_anchor WHERE id = 1").Scan(&a.Seq, &a.PrevMAC, &a.MAC)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit anchor: %w", err)
	}
	return &a, nil
}

// AuditAnchor returns the retention anchor, or nil if nothing was purged.
func (s *Store) AuditAnchor(ctx context.Context) (*store.AuditAnchor, error) {
	return auditAnchor(ctx, s.db)
}

// PurgeAudit deletes rows up to upTo and records the anchor atomically.
func (s *Store) PurgeAudit(ctx context.Context, upTo int64, anchor store.AuditAnchor, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		cur, err := auditAnchor(ctx, tx)
		if err != nil {
			return err
		}
		if cur != nil && cur.Seq >= upTo {
			return fmt.Errorf("audit anchor already at %d: %w", cur.Seq, store.ErrConflict)
		}
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM audit_events WHERE seq = ? AND mac = ?", anchor.Seq, anchor.PrevMAC).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: purge audit: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("audit entry %d changed since the purge was planned: %w", anchor.Seq, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM audit_events WHERE seq <= ?", upTo); err != nil {
			return fmt.Errorf("sqlite: purge audit: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_anchor(id, seq, prev_mac, mac) VALUES (1, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, prev_mac=excluded.prev_mac, mac=excluded.mac`,
			anchor.Seq, anchor.PrevMAC, anchor.MAC)
		if err != nil {
			return fmt.Errorf("sqlite: audit anchor: %w", err)
		}
		return appendAuditTx(ctx, tx, audit)
	})
}
