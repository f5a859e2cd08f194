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

const (
	auditHeadSQL   = "SELECT " + auditColumns + " FROM audit_events ORDER BY seq DESC LIMIT 1"
	auditInsertSQL = "INSERT INTO audit_events(" + auditColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?)"
)

// auditStmts are the chain's two statements, prepared once on the write
// connection: preparing them was ≈ 15 % of a durable append's CPU.
type auditStmts struct{ head, insert *sql.Stmt }

func prepareAudit(ctx context.Context, wdb *sql.DB) (*auditStmts, error) {
	head, err := wdb.PrepareContext(ctx, auditHeadSQL)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare audit head: %w", err)
	}
	insert, err := wdb.PrepareContext(ctx, auditInsertSQL)
	if err != nil {
		_ = head.Close()
		return nil, fmt.Errorf("sqlite: prepare audit insert: %w", err)
	}
	return &auditStmts{head: head, insert: insert}, nil
}

func (a *auditStmts) close() error { return errors.Join(a.head.Close(), a.insert.Close()) }

func auditHead(ctx context.Context, q querier) (*store.AuditRow, error) {
	return auditHeadRow(q.QueryRowContext(ctx, auditHeadSQL))
}

func auditHeadRow(row *sql.Row) (*store.AuditRow, error) {
	a, err := scanAudit(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit head: %w", err)
	}
	return a, nil
}

// appendAuditTx appends the row fn builds from the current head inside tx
// (store.AppendAudit). A nil fn appends nothing.
func (s *Store) appendAuditTx(ctx context.Context, tx *sql.Tx, fn store.AuditFunc) error {
	_, err := store.AppendAudit(ctx, s.auditTx(tx), fn)
	return err
}

// auditTx gives the shared chain logic (store.AppendAudit, store.PurgeAudit)
// its statements inside one write transaction; writeTx's BEGIN IMMEDIATE
// keeps every other writer out until it ends. The head and insert use the
// statements prepared on the write connection, which tx runs on.
type auditTx struct {
	tx     *sql.Tx
	stmts  *auditStmts
	insert *sql.Stmt // stmts.insert bound to tx, made on the first insert of a batch
}

var _ store.AuditPurgeTx = (*auditTx)(nil)

func (s *Store) auditTx(tx *sql.Tx) *auditTx { return &auditTx{tx: tx, stmts: s.audit} }

func (a *auditTx) Head(ctx context.Context) (*store.AuditRow, error) {
	return auditHeadRow(a.tx.StmtContext(ctx, a.stmts.head).QueryRowContext(ctx))
}

func (a *auditTx) Anchor(ctx context.Context) (*store.AuditAnchor, error) {
	return auditAnchor(ctx, a.tx)
}

func (a *auditTx) Insert(ctx context.Context, row store.AuditRow) error {
	if a.insert == nil {
		a.insert = a.tx.StmtContext(ctx, a.stmts.insert)
	}
	_, err := a.insert.ExecContext(ctx,
		row.Seq, millis(row.Time), row.Tenant, row.Actor, row.Action, row.Target, row.Outcome, row.RequestID, row.Details, row.MAC)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	return nil
}

func (a *auditTx) HasRow(ctx context.Context, seq int64, mac string) (bool, error) {
	var n int64
	if err := a.tx.QueryRowContext(ctx, "SELECT count(*) FROM audit_events WHERE seq = ? AND mac = ?", seq, mac).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: purge audit: %w", err)
	}
	return n == 1, nil
}

func (a *auditTx) DeleteThrough(ctx context.Context, upTo int64) error {
	if _, err := a.tx.ExecContext(ctx, "DELETE FROM audit_events WHERE seq <= ?", upTo); err != nil {
		return fmt.Errorf("sqlite: purge audit: %w", err)
	}
	return nil
}

func (a *auditTx) SetAnchor(ctx context.Context, anchor store.AuditAnchor) error {
	_, err := a.tx.ExecContext(ctx, `INSERT INTO audit_anchor(id, seq, prev_mac, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET seq=excluded.seq, prev_mac=excluded.prev_mac, mac=excluded.mac`,
		anchor.Seq, anchor.PrevMAC, anchor.MAC)
	if err != nil {
		return fmt.Errorf("sqlite: audit anchor: %w", err)
	}
	return nil
}

// AppendAudit appends the rows fns build in one durable transaction.
func (s *Store) AppendAudit(ctx context.Context, fns ...store.AuditFunc) (*store.AuditRow, error) {
	var out *store.AuditRow
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := store.AppendAudit(ctx, s.auditTx(tx), fns...)
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

// PurgeAudit deletes rows up to upTo and records the anchor atomically
// (store.PurgeAudit in one write transaction).
func (s *Store) PurgeAudit(ctx context.Context, upTo int64, anchor store.AuditAnchor, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		return store.PurgeAudit(ctx, s.auditTx(tx), upTo, anchor, audit)
	})
}
