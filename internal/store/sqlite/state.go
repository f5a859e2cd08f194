package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/store"
)

func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// PutProvider inserts or replaces a provider, with its audit row.
func (s *Store) PutProvider(ctx context.Context, p *store.Provider, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO providers(tenant, name, type, base_url, models, credential, credential_env, created_at)
			VALUES (?,?,?,?,?,?,?,?)
			ON CONFLICT(tenant, name) DO UPDATE SET type=excluded.type, base_url=excluded.base_url, models=excluded.models,
			credential=excluded.credential, credential_env=excluded.credential_env`,
			p.Tenant, p.Name, p.Type, p.BaseURL, joinList(p.Models), p.Credential, p.CredentialEnv, millis(p.CreatedAt))
		if isForeignKey(err) {
			return fmt.Errorf("tenant %q: %w", p.Tenant, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: put provider: %w", err)
		}
		return s.appendAuditTx(ctx, tx, audit)
	})
}

// ReplaceProviderCredential swaps the credential if it is still old.
func (s *Store) ReplaceProviderCredential(ctx context.Context, tenant, name, oldValue, newValue string, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE providers SET credential = ? WHERE tenant = ? AND name = ? AND credential = ?", newValue, tenant, name, oldValue)
		if err != nil {
			return fmt.Errorf("sqlite: replace credential: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrConflict)
		}
		return s.appendAuditTx(ctx, tx, audit)
	})
}

const providerColumns = "tenant, name, type, base_url, models, credential, credential_env, created_at"

func scanProvider(r scanner) (*store.Provider, error) {
	var p store.Provider
	var models string
	var created int64
	if err := r.Scan(&p.Tenant, &p.Name, &p.Type, &p.BaseURL, &models, &p.Credential, &p.CredentialEnv, &created); err != nil {
		return nil, err
	}
	p.Models = splitList(models)
	p.CreatedAt = fromMillis(created)
	return &p, nil
}

// GetProvider returns one provider of a tenant.
func (s *Store) GetProvider(ctx context.Context, tenant, name string) (*store.Provider, error) {
	p, err := scanProvider(s.db.QueryRowContext(ctx, "SELECT "+providerColumns+" FROM providers WHERE tenant = ? AND name = ?", tenant, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get provider: %w", err)
	}
	return p, nil
}

// ListProviders lists providers of a tenant ("" for all).
func (s *Store) ListProviders(ctx context.Context, tenant string) ([]store.Provider, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+providerColumns+" FROM providers WHERE ? = '' OR tenant = ? ORDER BY tenant, name", tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list providers: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	var out []store.Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list providers: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// ProvidersGeneration returns the counter the providers table's triggers
// move (migration 0007), read like KeysGeneration.
func (s *Store) ProvidersGeneration(ctx context.Context) (int64, error) {
	return s.counter(ctx, func(c *usageConn) *uintptr { return &c.providersGeneration }, providersGenerationSQL, "providers generation")
}

const providersGenerationSQL = "SELECT value FROM meta WHERE name = 'providers_generation'"

// DeleteProvider removes a provider, with its audit row.
func (s *Store) DeleteProvider(ctx context.Context, tenant, name string, audit store.AuditFunc) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM providers WHERE tenant = ? AND name = ?", tenant, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete provider: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrNotFound)
		}
		return s.appendAuditTx(ctx, tx, audit)
	})
}

// GetSecret returns a stored secret (barrier ciphertext).
func (s *Store) GetSecret(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: get secret: %w", err)
	}
	return v, nil
}

// PutSecretIfAbsent stores value unless name exists; returns what is stored.
func (s *Store) PutSecretIfAbsent(ctx context.Context, name, value string) (string, error) {
	var out string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO secrets(name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", name, value); err != nil {
			return fmt.Errorf("sqlite: put secret: %w", err)
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&out)
	})
	return out, err
}

// ReplaceSecret swaps a secret's value if it still holds oldValue.
func (s *Store) ReplaceSecret(ctx context.Context, name, oldValue, newValue string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE secrets SET value = ? WHERE name = ? AND value = ?", newValue, name, oldValue)
		if err != nil {
			return fmt.Errorf("sqlite: replace secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("secret %s: %w", name, store.ErrConflict)
		}
		return nil
	})
}

// ListSecretNames lists secret names.
func (s *Store) ListSecretNames(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM secrets ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: secrets: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// KeyringVersion returns the keyring's version, 0 when there is none.
func (s *Store) KeyringVersion(ctx context.Context) (int64, error) {
	v, _, err := s.readInt(ctx, func(c *usageConn) *uintptr { return &c.keyringVersion }, keyringVersionSQL)
	if err != nil {
		return 0, fmt.Errorf("sqlite: keyring version: %w", err)
	}
	return v, nil
}

const keyringVersionSQL = "SELECT version FROM keyring WHERE id = 1"

// LoadKeyring returns the wrapped keyring and its version.
func (s *Store) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	var blob []byte
	var v int64
	err := s.db.QueryRowContext(ctx, "SELECT blob, version FROM keyring WHERE id = 1").Scan(&blob, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, store.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: keyring: %w", err)
	}
	return blob, v, nil
}

// SaveKeyring writes the keyring if its version is still expectVersion
// (0: no keyring yet).
func (s *Store) SaveKeyring(ctx context.Context, blob []byte, expectVersion int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		return saveKeyringTx(ctx, tx, blob, expectVersion)
	})
}

// SaveKeyringSalt writes the keyring like SaveKeyring and, in the same
// transaction, replaces the salt with salt or removes it (salt nil).
func (s *Store) SaveKeyringSalt(ctx context.Context, blob, salt []byte, expectVersion int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := saveKeyringTx(ctx, tx, blob, expectVersion); err != nil {
			return err
		}
		var err error
		if salt == nil {
			_, err = tx.ExecContext(ctx, "DELETE FROM keyring_salt WHERE id = 1")
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO keyring_salt(id, salt) VALUES (1, ?)
				ON CONFLICT(id) DO UPDATE SET salt = excluded.salt`, salt)
		}
		if err != nil {
			return fmt.Errorf("sqlite: save keyring salt: %w", err)
		}
		return nil
	})
}

func saveKeyringTx(ctx context.Context, tx *sql.Tx, blob []byte, expectVersion int64) error {
	var res sql.Result
	var err error
	if expectVersion == 0 {
		res, err = tx.ExecContext(ctx, "INSERT INTO keyring(id, blob, version) VALUES (1, ?, 1) ON CONFLICT(id) DO NOTHING", blob)
	} else {
		res, err = tx.ExecContext(ctx, "UPDATE keyring SET blob = ?, version = version + 1 WHERE id = 1 AND version = ?", blob, expectVersion)
	}
	if err != nil {
		return fmt.Errorf("sqlite: save keyring: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrConflict
	}
	return nil
}

// KeyringSalt returns the passphrase salt stored beside the keyring.
func (s *Store) KeyringSalt(ctx context.Context) ([]byte, error) {
	var salt []byte
	err := s.db.QueryRowContext(ctx, "SELECT salt FROM keyring_salt WHERE id = 1").Scan(&salt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("keyring salt: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: keyring salt: %w", err)
	}
	return salt, nil
}

// PutKeyringSalt stores salt unless a salt is stored, while the keyring's
// version is expectVersion, and returns the stored salt. The immediate
// write transaction excludes every other writer, keyring saves included,
// from the comparison to the commit.
func (s *Store) PutKeyringSalt(ctx context.Context, salt []byte, expectVersion int64) ([]byte, error) {
	var out []byte
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		// The WHERE also keeps SQLite from reading ON CONFLICT as a join.
		_, err := tx.ExecContext(ctx, `INSERT INTO keyring_salt(id, salt)
			SELECT 1, ? WHERE coalesce((SELECT version FROM keyring WHERE id = 1), 0) = ?
			ON CONFLICT(id) DO NOTHING`, salt, expectVersion)
		if err != nil {
			return fmt.Errorf("sqlite: put keyring salt: %w", err)
		}
		err = tx.QueryRowContext(ctx, "SELECT salt FROM keyring_salt WHERE id = 1").Scan(&out)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("keyring salt: %w", store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: put keyring salt: %w", err)
		}
		return nil
	})
	return out, err
}

// SummariseUsage aggregates usage per key, model and endpoint.
func (s *Store) SummariseUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageSummary, error) {
	// total() never fails: sum() raised "integer overflow" once two rows
	// held a saturated cost, and every summary failed. Integer sums below
	// 2^53 are exact in total()'s doubles; above, the cast saturates.
	rows, err := s.db.QueryContext(ctx, `SELECT key_id, model, endpoint, count(*), CAST(total(prompt_tokens) AS INTEGER),
		CAST(total(completion_tokens) AS INTEGER), CAST(total(cached_tokens) AS INTEGER),
		CAST(total(cache_write_tokens) AS INTEGER), CAST(total(cache_write_1h_tokens) AS INTEGER), CAST(total(cost_micros) AS INTEGER),
		sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END), sum(estimated <> 0),
		CAST(total(CASE WHEN estimated <> 0 THEN prompt_tokens END) AS INTEGER),
		CAST(total(CASE WHEN estimated <> 0 THEN completion_tokens END) AS INTEGER)
		FROM usage WHERE (? = '' OR key_id = ?) AND (? = '' OR tenant = ?) AND (? = '' OR endpoint = ?) AND ts >= ?
		GROUP BY key_id, model, endpoint ORDER BY key_id, model, endpoint`,
		f.KeyID, f.KeyID, f.Tenant, f.Tenant, f.Endpoint, f.Endpoint, millis(f.Since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage summary: %w", err)
	}
	defer func() { _ = rows.Close() }() // read errors surface through rows.Err below
	var out []store.UsageSummary
	for rows.Next() {
		var u store.UsageSummary
		if err := rows.Scan(&u.KeyID, &u.Model, &u.Endpoint, &u.Requests, &u.PromptTokens, &u.CompletionTokens,
			&u.CachedTokens, &u.CacheWriteTokens, &u.CacheWrite1hTokens, &u.CostMicros, &u.Errors,
			&u.EstimatedRequests, &u.EstimatedPromptTokens, &u.EstimatedCompletionTokens); err != nil {
			return nil, fmt.Errorf("sqlite: usage summary: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
