package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/store"
)

const insertUsageSQL = `INSERT INTO usage(ts, request_id, tenant, key_id, model, provider, deployment, prompt_tokens,
	completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros, latency_ms, ttfb_ms, status, stream,
	estimated, cache_write_1h_tokens, endpoint)
	VALUES ` + usageValues

// usageValues is one row's parameters in insertUsageSQL; usageColumns
// counts them.
const usageValues = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

var usageColumns = strings.Count(usageValues, "?")

// usageGroup is how many rows insertUsageGroupSQL writes (usageGroup ×
// usageColumns parameters, far under SQLite's 32 766).
const usageGroup = 16

var insertUsageGroupSQL = strings.TrimSuffix(insertUsageSQL, usageValues) +
	strings.TrimSuffix(strings.Repeat(usageValues+",", usageGroup), ",")

// InsertUsage appends rows in one transaction on the usage connection
// (see usageConn for why it is not a database/sql handle).
func (s *Store) InsertUsage(ctx context.Context, rows []store.Usage) error {
	if len(rows) == 0 {
		return nil
	}
	c, err := s.usageConn()
	if err == nil {
		err = c.write(ctx, rows)
	}
	if err != nil {
		return fmt.Errorf("sqlite: usage: %w", err)
	}
	return nil
}

// readInt runs a single-integer read on the usage connection (see
// usageConn.readInt), which field picks from its kept statements, or query
// on the pool when that connection cannot be had or its read fails; found
// is false when the query gives no row.
func (s *Store) readInt(ctx context.Context, field func(*usageConn) *uintptr, query string) (v int64, found bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if c, err := s.usageConn(); err == nil {
		if v, found, err := c.readInt(field(c)); err == nil {
			return v, found, nil
		}
	}
	err = s.db.QueryRowContext(ctx, query).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

// usageConn returns the usage connection, opening it on first use (a
// failed open is retried by the next batch).
func (s *Store) usageConn() (*usageConn, error) {
	s.umu.Lock()
	defer s.umu.Unlock()
	if s.uclosed {
		return nil, errors.New("the store is closed")
	}
	if s.usage == nil {
		c, err := openUsageConn(s.path, "NORMAL")
		if err != nil {
			return nil, err
		}
		s.usage = c
	}
	return s.usage, nil
}
