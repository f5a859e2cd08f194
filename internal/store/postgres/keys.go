package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// CreateTenant inserts a tenant and its audit row in one transaction.
func (s *Store) CreateTenant(ctx context.Context, name string, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO tenants(name, created_at) VALUES ($1, $2)", name, millis(time.Now()))
		if hasCode(err, codeUnique) {
			return fmt.Errorf("tenant %q: %w", name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("postgres: create tenant: %w", err)
		}
		return appendAuditTx(ctx, tx, audit)
	})
}

// ListTenants lists tenants by name.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, created_at FROM tenants ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	out, err := pgx.AppendRows([]store.Tenant(nil), rows, func(r pgx.CollectableRow) (store.Tenant, error) {
		var t store.Tenant
		var ms int64
		err := r.Scan(&t.Name, &ms)
		t.CreatedAt = fromMillis(ms)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	return out, nil
}

// TenantExists reports whether the tenant exists.
func (s *Store) TenantExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: tenant: %w", err)
	}
	return ok, nil
}

const keyColumns = "id, tenant, name, hash, scopes, models, tools, expires_at, revoked_at, no_log, created_at, last_used_at, limits, guard"

// CreateKey inserts k, bumps the keys generation and appends the audit row
// in one transaction.
func (s *Store) CreateKey(ctx context.Context, k *store.Key, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO keys("+keyColumns+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
			k.ID, k.Tenant, k.Name, k.Hash, list(k.Scopes), list(k.Models), list(k.Tools),
			nullMillis(k.ExpiresAt), nullMillis(k.RevokedAt), k.NoLog, millis(k.CreatedAt), nullMillis(k.LastUsedAt), k.Limits, k.Guard)
		switch {
		case hasCode(err, codeUnique):
			return fmt.Errorf("key %s: %w", k.ID, store.ErrExists)
		case hasCode(err, codeForeignKey):
			return fmt.Errorf("tenant %q: %w", k.Tenant, store.ErrNotFound)
		case err != nil:
			return fmt.Errorf("postgres: create key: %w", err)
		}
		if err := bumpKeys(ctx, tx); err != nil {
			return err
		}
		return appendAuditTx(ctx, tx, audit)
	})
}

// bumpKeys moves the keys generation in the transaction that changes a
// key, so a replica polling it sees the change as soon as it commits.
func bumpKeys(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "UPDATE meta SET value = value + 1 WHERE name = 'keys_generation'"); err != nil {
		return fmt.Errorf("postgres: keys generation: %w", err)
	}
	return nil
}

func scanKey(r pgx.Row) (*store.Key, error) {
	var k store.Key
	var exp, rev, used *int64
	var created int64
	if err := r.Scan(&k.ID, &k.Tenant, &k.Name, &k.Hash, &k.Scopes, &k.Models, &k.Tools, &exp, &rev, &k.NoLog, &created, &used, &k.Limits, &k.Guard); err != nil {
		return nil, err
	}
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = timePtr(exp), timePtr(rev), timePtr(used)
	k.CreatedAt = fromMillis(created)
	return &k, nil
}

// GetKey returns the key with public id id.
func (s *Store) GetKey(ctx context.Context, id string) (*store.Key, error) {
	return getKey(ctx, s.pool, id, "")
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// getKey reads one key; lock is "" or a locking clause ("FOR UPDATE").
func getKey(ctx context.Context, q querier, id, lock string) (*store.Key, error) {
	k, err := scanKey(q.QueryRow(ctx, "SELECT "+keyColumns+" FROM keys WHERE id = $1 "+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get key: %w", err)
	}
	return k, nil
}

// ListKeys lists keys, of one tenant or (tenant "") of all.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]store.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM keys WHERE $1 = '' OR tenant = $1 ORDER BY created_at, id COLLATE "C"`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	out, err := pgx.AppendRows([]store.Key(nil), rows, func(r pgx.CollectableRow) (store.Key, error) {
		k, err := scanKey(r)
		if err != nil {
			return store.Key{}, err
		}
		return *k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return out, nil
}

// UpdateKey locks the key row, applies fn and writes the key, the keys
// generation and the audit row in one transaction; a concurrent update
// from another replica waits for this one and sees its result.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*store.Key) error, audit store.AuditFunc) (*store.Key, error) {
	var out *store.Key
	err := s.tx(ctx, func(tx pgx.Tx) error {
		k, err := getKey(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE keys SET name=$1, hash=$2, scopes=$3, models=$4, tools=$5, expires_at=$6, revoked_at=$7,
			no_log=$8, limits=$9, guard=$10 WHERE id=$11`,
			k.Name, k.Hash, list(k.Scopes), list(k.Models), list(k.Tools), nullMillis(k.ExpiresAt), nullMillis(k.RevokedAt),
			k.NoLog, k.Limits, k.Guard, id)
		if err != nil {
			return fmt.Errorf("postgres: update key: %w", err)
		}
		if err := bumpKeys(ctx, tx); err != nil {
			return err
		}
		out = k
		return appendAuditTx(ctx, tx, audit)
	})
	return out, err
}

// TouchKey records last use (best effort, not audited).
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, "UPDATE keys SET last_used_at = $1 WHERE id = $2", millis(at), id); err != nil {
		return fmt.Errorf("postgres: touch key: %w", err)
	}
	return nil
}

// KeysGeneration returns the counter bumped by every key change.
func (s *Store) KeysGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE name = 'keys_generation'").Scan(&g); err != nil {
		return 0, fmt.Errorf("postgres: keys generation: %w", err)
	}
	return g, nil
}
