package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/store"
)

const insertUsageSQL = `INSERT INTO usage(ts, request_id, tenant, key_id, model, provider, deployment, prompt_tokens,
	completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms, status, stream)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// usageCols is the number of bound values per usage row.
const usageCols = 17

// rawConn is what InsertUsage needs of the driver's connection.
type rawConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
}

// InsertUsage appends rows in one transaction. Usage rows are written in
// batches by the usage writer, one per request, so the per-row cost is the
// whole cost: the rows are bound through the driver's statement directly,
// reusing one argument slice, rather than through database/sql, which
// converts and copies the arguments of every row (a quarter of a row's
// CPU with the pure-Go SQLite).
func (s *Store) InsertUsage(ctx context.Context, rows []store.Usage) error {
	if len(rows) == 0 {
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: usage: %w", err)
	}
	defer func() { _ = conn.Close() }()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(rawConn)
		if !ok {
			return errors.New("driver connection cannot begin or prepare with a context")
		}
		return insertUsage(ctx, c, rows)
	})
	if err != nil {
		return fmt.Errorf("sqlite: usage: %w", err)
	}
	return nil
}

func insertUsage(ctx context.Context, c rawConn, rows []store.Usage) (err error) {
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	st, err := c.PrepareContext(ctx, insertUsageSQL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return errors.New("driver statement cannot execute with a context")
	}
	// The driver starts a watcher goroutine per statement for a cancellable
	// context (≈ 3 µs, a third of a row's cost); the batch checks ctx
	// between rows instead.
	rowCtx := context.WithoutCancel(ctx)
	var args [usageCols]driver.NamedValue
	for i := range args {
		args[i].Ordinal = i + 1
	}
	for i := range rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		bindUsage(&args, &rows[i])
		if _, err := ex.ExecContext(rowCtx, args[:]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// bindUsage sets the row's values in column order.
func bindUsage(a *[usageCols]driver.NamedValue, u *store.Usage) {
	a[0].Value = millis(u.Time)
	a[1].Value = u.RequestID
	a[2].Value = u.Tenant
	a[3].Value = u.KeyID
	a[4].Value = u.Model
	a[5].Value = u.Provider
	a[6].Value = u.Deployment
	a[7].Value = u.PromptTokens
	a[8].Value = u.CompletionTokens
	a[9].Value = u.CachedTokens
	a[10].Value = u.CacheWriteTokens
	a[11].Value = u.ReasoningTokens
	a[12].Value = u.CostMicros
	a[13].Value = u.LatencyMS
	a[14].Value = u.TTFBMS
	a[15].Value = int64(u.Status)
	a[16].Value = u.Stream
}
