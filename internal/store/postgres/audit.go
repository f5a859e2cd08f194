package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/store"
)

const auditColumns = "seq, ts, tenant, actor, action, target, outcome, request_id, details, mac"

func scanAudit(r pgx.Row) (store.AuditRow, error) {
	var a store.AuditRow
	var ts int64
	err := r.Scan(&a.Seq, &ts, &a.Tenant, &a.Actor, &a.Action, &a.Target, &a.Outcome, &a.RequestID, &a.Details, &a.MAC)
	a.Time = fromMillis(ts)
	return a, err
}

func auditHead(ctx context.Context, q querier) (*store.AuditRow, error) {
	a, err := scanAudit(q.QueryRow(ctx, "SELECT "+auditColumns+" FROM audit_events ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: audit head: %w", err)
	}
	return &a, nil
}

// lockAuditChain serialises writers of the chain across every process
// sharing the database until tx ends. Taken before the head is read: under
// READ COMMITTED each later statement sees the rows of the writer that
// held the lock before, so no two appends build on the same head.
func lockAuditChain(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockAudit); err != nil {
		return fmt.Errorf("postgres: audit lock: %w", err)
	}
	return nil
}

// appendAuditTx appends the row fn builds from the current head inside tx
// (store.AppendAudit), holding the chain lock. A nil fn appends nothing.
func appendAuditTx(ctx context.Context, tx pgx.Tx, fn store.AuditFunc) error {
	_, err := appendAudit(ctx, tx, fn)
	return err
}

func appendAudit(ctx context.Context, tx pgx.Tx, fns ...store.AuditFunc) (*store.AuditRow, error) {
	if !slices.ContainsFunc(fns, func(fn store.AuditFunc) bool { return fn != nil }) {
		return nil, nil
	}
	if err := lockAuditChain(ctx, tx); err != nil {
		return nil, err
	}
	return store.AppendAudit(ctx, auditTx{tx}, fns...)
}

// auditTx gives the shared chain logic (store.AppendAudit, store.PurgeAudit)
// its statements inside one transaction; the caller holds the chain lock
// (lockAuditChain) first.
type auditTx struct{ tx pgx.Tx }

var _ store.AuditPurgeTx = auditTx{}

func (a auditTx) Head(ctx context.Context) (*store.AuditRow, error) { return auditHead(ctx, a.tx) }

func (a auditTx) Anchor(ctx context.Context) (*store.AuditAnchor, error) {
	return auditAnchor(ctx, a.tx)
}

func (a auditTx) Insert(ctx context.Context, row store.AuditRow) error {
	_, err := a.tx.Exec(ctx, "INSERT INTO audit_events("+auditColumns+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
		row.Seq, millis(row.Time), row.Tenant, row.Actor, row.Action, row.Target, row.Outcome, row.RequestID, row.Details, row.MAC)
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	return nil
}

func (a auditTx) HasRow(ctx context.Context, seq int64, mac string) (bool, error) {
	var ok bool
	if err := a.tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM audit_events WHERE seq = $1 AND mac = $2)", seq, mac).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: purge audit: %w", err)
	}
	return ok, nil
}

func (a auditTx) DeleteThrough(ctx context.Context, upTo int64) error {
	if _, err := a.tx.Exec(ctx, "DELETE FROM audit_events WHERE seq <= $1", upTo); err != nil {
		return fmt.Errorf("postgres: purge audit: %w", err)
	}
	return nil
}

func (a auditTx) SetAnchor(ctx context.Context, anchor store.AuditAnchor) error {
	_, err := a.tx.Exec(ctx, `INSERT INTO audit_anchor(id, seq, prev_mac, mac) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET seq=excluded.seq, prev_mac=excluded.prev_mac, mac=excluded.mac`,
		anchor.Seq, anchor.PrevMAC, anchor.MAC)
	if err != nil {
		return fmt.Errorf("postgres: audit anchor: %w", err)
	}
	return nil
}

// AppendAudit appends the rows fns build in one transaction, serialised
// across replicas; it returns after the commit is durable.
func (s *Store) AppendAudit(ctx context.Context, fns ...store.AuditFunc) (*store.AuditRow, error) {
	var out *store.AuditRow
	err := s.tx(ctx, func(tx pgx.Tx) error {
		r, err := appendAudit(ctx, tx, fns...)
		out = r
		return err
	})
	return out, err
}

// AuditRows calls fn for each row with seq > afterSeq, in order.
func (s *Store) AuditRows(ctx context.Context, afterSeq int64, fn func(store.AuditRow) error) error {
	rows, err := s.pool.Query(ctx, "SELECT "+auditColumns+" FROM audit_events WHERE seq > $1 ORDER BY seq", afterSeq)
	if err != nil {
		return fmt.Errorf("postgres: audit rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("postgres: audit rows: %w", err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: audit rows: %w", err)
	}
	return nil
}

// AuditHead returns the newest row, or nil on an empty chain.
func (s *Store) AuditHead(ctx context.Context) (*store.AuditRow, error) {
	return auditHead(ctx, s.pool)
}

func auditAnchor(ctx context.Context, q querier) (*store.AuditAnchor, error) {
	var a store.AuditAnchor
	err := q.QueryRow(ctx, "SELECT seq, prev_mac, mac FROM audit_anchor WHERE id = 1").Scan(&a.Seq, &a.PrevMAC, &a.MAC)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: audit anchor: %w", err)
	}
	return &a, nil
}

// AuditAnchor returns the retention anchor, or nil if nothing was purged.
func (s *Store) AuditAnchor(ctx context.Context) (*store.AuditAnchor, error) {
	return auditAnchor(ctx, s.pool)
}

// PurgeAudit deletes rows up to upTo and records the anchor atomically
// (store.PurgeAudit), holding the chain lock so no append interleaves.
func (s *Store) PurgeAudit(ctx context.Context, upTo int64, anchor store.AuditAnchor, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockAuditChain(ctx, tx); err != nil {
			return err
		}
		return store.PurgeAudit(ctx, auditTx{tx}, upTo, anchor, audit)
	})
}
