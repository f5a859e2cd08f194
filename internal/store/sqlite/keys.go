package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// CreateTenant inserts a tenant.
func (s *Store) CreateTenant(ctx context.Context, name string, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO tenants(name, created_at) VALUES (?, ?)", name, millis(time.Now()))
		if isUnique(err) {
			return fmt.Errorf("tenant %q: %w", name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("sqlite: create tenant: %w", err)
		}
		return s.appendAuditTx(ctx, tx, audit)
	})
}

// ListTenants lists tenants by name.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name, created_at FROM tenants ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	var out []store.Tenant
	for rows.Next() {
		var t store.Tenant
		var ms int64
		if err := rows.Scan(&t.Name, &ms); err != nil {
			return nil, fmt.Errorf("sqlite: tenants: %w", err)
		}
		t.CreatedAt = fromMillis(ms)
		out = append(out, t)
	}
	return out, rows.Err()
}

// TenantExists reports whether the tenant exists.
func (s *Store) TenantExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE name = ?", name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: tenant: %w", err)
	}
	return n == 1, nil
}

const keyColumns = "id, tenant, name, hash, scopes, models, tools, expires_at, revoked_at, no_log, created_at, last_used_at, limits, guard"

// CreateKey inserts k and its audit row in one durable transaction.
func (s *Store) CreateKey(ctx context.Context, k *store.Key, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO keys("+keyColumns+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			k.ID, k.Tenant, k.Name, k.Hash, joinList(k.Scopes), joinList(k.Models), joinList(k.Tools),
			nullMillis(k.ExpiresAt), nullMillis(k.RevokedAt), k.NoLog, millis(k.CreatedAt), nullMillis(k.LastUsedAt), k.Limits, k.Guard)
		if isUnique(err) {
			return fmt.Errorf("key %s: %w", k.ID, store.ErrExists)
		}
		if err != nil {
			if isForeignKey(err) {
				return fmt.Errorf("tenant %q: %w", k.Tenant, store.ErrNotFound)
			}
			return fmt.Errorf("sqlite: create key: %w", err)
		}
		if err := bumpKeys(ctx, tx); err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, audit)
	})
}

func bumpKeys(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE meta SET value = value + 1 WHERE name = 'keys_generation'")
	if err != nil {
		return fmt.Errorf("sqlite: keys generation: %w", err)
	}
	return nil
}

type scanner interface{ Scan(...any) error }

func scanKey(r scanner) (*store.Key, error) {
	var k store.Key
	var scopes, models, tools string
	var exp, rev, used sql.NullInt64
	var created int64
	if err := r.Scan(&k.ID, &k.Tenant, &k.Name, &k.Hash, &scopes, &models, &tools, &exp, &rev, &k.NoLog, &created, &used, &k.Limits, &k.Guard); err != nil {
		return nil, err
	}
	k.Scopes, k.Models, k.Tools = splitList(scopes), splitList(models), splitList(tools)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = timePtr(exp), timePtr(rev), timePtr(used)
	k.CreatedAt = fromMillis(created)
	return &k, nil
}

// GetKey returns the key with public id id.
func (s *Store) GetKey(ctx context.Context, id string) (*store.Key, error) {
	return getKey(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func getKey(ctx context.Context, q querier, id string) (*store.Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM keys WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get key: %w", err)
	}
	return k, nil
}

// ListKeys lists keys, of one tenant or (tenant "") of all.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]store.Key, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+keyColumns+" FROM keys WHERE ? = '' OR tenant = ? ORDER BY created_at, id", tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	var out []store.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// UpdateKey applies fn and writes the key and its audit row atomically.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*store.Key) error, audit store.AuditFunc) (*store.Key, error) {
	var out *store.Key
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		k, err := getKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE keys SET name=?, hash=?, scopes=?, models=?, tools=?, expires_at=?, revoked_at=?, no_log=?, limits=?, guard=? WHERE id=?`,
			k.Name, k.Hash, joinList(k.Scopes), joinList(k.Models), joinList(k.Tools), nullMillis(k.ExpiresAt), nullMillis(k.RevokedAt), k.NoLog, k.Limits, k.Guard, id)
		if err != nil {
			return fmt.Errorf("sqlite: update key: %w", err)
		}
		if err := bumpKeys(ctx, tx); err != nil {
			return err
		}
		out = k
		return s.appendAuditTx(ctx, tx, audit)
	})
	return out, err
}

// TouchKey records last use (best effort, not audited).
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, "UPDATE keys SET last_used_at = ? WHERE id = ?", millis(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: touch key: %w", err)
	}
	return nil
}

// KeysGeneration returns the counter bumped by every key change.
func (s *Store) KeysGeneration(ctx context.Context) (int64, error) {
	return s.counter(ctx, func(c *usageConn) *uintptr { return &c.generation }, keysGenerationSQL, "keys generation")
}

// counter reads one of meta's counters (see readInt), which must exist.
func (s *Store) counter(ctx context.Context, field func(*usageConn) *uintptr, query, what string) (int64, error) {
	g, found, err := s.readInt(ctx, field, query)
	if err == nil && !found {
		err = fmt.Errorf("no %s in meta", what)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return g, nil
}

const keysGenerationSQL = "SELECT value FROM meta WHERE name = 'keys_generation'"
