package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// PutProvider inserts or replaces a provider, with its audit row.
func (s *Store) PutProvider(ctx context.Context, p *store.Provider, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO providers(tenant, name, type, base_url, models, credential, credential_env, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
			ON CONFLICT (tenant, name) DO UPDATE SET type=excluded.type, base_url=excluded.base_url, models=excluded.models,
			credential=excluded.credential, credential_env=excluded.credential_env`,
			p.Tenant, p.Name, p.Type, p.BaseURL, list(p.Models), p.Credential, p.CredentialEnv, millis(p.CreatedAt))
		if hasCode(err, codeForeignKey) {
			return fmt.Errorf("tenant %q: %w", p.Tenant, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("postgres: put provider: %w", err)
		}
		return appendAuditTx(ctx, tx, audit)
	})
}

// ReplaceProviderCredential swaps the credential if it still holds
// oldValue (one conditional UPDATE: the compare and the swap are atomic
// across replicas).
func (s *Store) ReplaceProviderCredential(ctx context.Context, tenant, name, oldValue, newValue string, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE providers SET credential = $1 WHERE tenant = $2 AND name = $3 AND credential = $4", newValue, tenant, name, oldValue)
		if err != nil {
			return fmt.Errorf("postgres: replace credential: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrConflict)
		}
		return appendAuditTx(ctx, tx, audit)
	})
}

const providerColumns = "tenant, name, type, base_url, models, credential, credential_env, created_at"

func scanProvider(r pgx.Row) (store.Provider, error) {
	var p store.Provider
	var created int64
	err := r.Scan(&p.Tenant, &p.Name, &p.Type, &p.BaseURL, &p.Models, &p.Credential, &p.CredentialEnv, &created)
	p.CreatedAt = fromMillis(created)
	return p, err
}

// GetProvider returns one provider of a tenant.
func (s *Store) GetProvider(ctx context.Context, tenant, name string) (*store.Provider, error) {
	p, err := scanProvider(s.pool.QueryRow(ctx, "SELECT "+providerColumns+" FROM providers WHERE tenant = $1 AND name = $2", tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get provider: %w", err)
	}
	return &p, nil
}

// ListProviders lists providers of a tenant ("" for all).
func (s *Store) ListProviders(ctx context.Context, tenant string) ([]store.Provider, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+providerColumns+` FROM providers WHERE $1 = '' OR tenant = $1
		ORDER BY tenant COLLATE "C", name COLLATE "C"`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list providers: %w", err)
	}
	out, err := pgx.AppendRows([]store.Provider(nil), rows, func(r pgx.CollectableRow) (store.Provider, error) { return scanProvider(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list providers: %w", err)
	}
	return out, nil
}

// DeleteProvider removes a provider, with its audit row.
func (s *Store) DeleteProvider(ctx context.Context, tenant, name string, audit store.AuditFunc) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM providers WHERE tenant = $1 AND name = $2", tenant, name)
		if err != nil {
			return fmt.Errorf("postgres: delete provider: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("provider %s/%s: %w", tenant, name, store.ErrNotFound)
		}
		return appendAuditTx(ctx, tx, audit)
	})
}

// GetSecret returns a stored secret (barrier ciphertext).
func (s *Store) GetSecret(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: get secret: %w", err)
	}
	return v, nil
}

// PutSecretIfAbsent stores value unless name exists and returns what is
// stored. A concurrent insert from another replica makes this INSERT wait
// for it and do nothing; the SELECT after it (a new snapshot under READ
// COMMITTED) then reads the winner's value.
func (s *Store) PutSecretIfAbsent(ctx context.Context, name, value string) (string, error) {
	var out string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO secrets(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value); err != nil {
			return fmt.Errorf("postgres: put secret: %w", err)
		}
		if err := tx.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&out); err != nil {
			return fmt.Errorf("postgres: put secret: %w", err)
		}
		return nil
	})
	return out, err
}

// ReplaceSecret swaps a secret's value if it still holds oldValue.
func (s *Store) ReplaceSecret(ctx context.Context, name, oldValue, newValue string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE secrets SET value = $1 WHERE name = $2 AND value = $3", newValue, name, oldValue)
	if err != nil {
		return fmt.Errorf("postgres: replace secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("secret %s: %w", name, store.ErrConflict)
	}
	return nil
}

// ListSecretNames lists secret names.
func (s *Store) ListSecretNames(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM secrets ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: secrets: %w", err)
	}
	out, err := pgx.AppendRows([]string(nil), rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: secrets: %w", err)
	}
	return out, nil
}

// LoadKeyring returns the wrapped keyring and its version.
func (s *Store) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	var blob []byte
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT blob, version FROM keyring WHERE id = 1").Scan(&blob, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, store.ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: keyring: %w", err)
	}
	return blob, v, nil
}

// ProvidersGeneration returns the counter the providers table's trigger
// moves (migration 0006).
func (s *Store) ProvidersGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE name = 'providers_generation'").Scan(&g); err != nil {
		return 0, fmt.Errorf("postgres: providers generation: %w", err)
	}
	return g, nil
}

// KeyringVersion returns the keyring's version, 0 when there is none.
func (s *Store) KeyringVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE((SELECT version FROM keyring WHERE id = 1), 0)").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: keyring version: %w", err)
	}
	return v, nil
}

// SaveKeyring writes the keyring if its version is still expectVersion
// (0: no keyring yet), in one conditional statement.
func (s *Store) SaveKeyring(ctx context.Context, blob []byte, expectVersion int64) error {
	return saveKeyring(ctx, s.pool, blob, expectVersion)
}

// SaveKeyringSalt writes the keyring like SaveKeyring and, in the same
// transaction, replaces the salt with salt or removes it (salt nil). The
// keyring row's lock, taken first, orders it after any PutKeyringSalt
// holding the table in SHARE mode, and a concurrent save at the same
// version finds the version moved on once it gets the lock.
func (s *Store) SaveKeyringSalt(ctx context.Context, blob, salt []byte, expectVersion int64) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := saveKeyring(ctx, tx, blob, expectVersion); err != nil {
			return err
		}
		var err error
		if salt == nil {
			_, err = tx.Exec(ctx, "DELETE FROM keyring_salt WHERE id = 1")
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO keyring_salt(id, salt) VALUES (1, $1)
				ON CONFLICT (id) DO UPDATE SET salt = excluded.salt`, salt)
		}
		if err != nil {
			return fmt.Errorf("postgres: save keyring salt: %w", err)
		}
		return nil
	})
}

// execer is what saveKeyring needs of a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func saveKeyring(ctx context.Context, db execer, blob []byte, expectVersion int64) error {
	q := "UPDATE keyring SET blob = $1, version = version + 1 WHERE id = 1 AND version = $2"
	args := []any{blob, expectVersion}
	if expectVersion == 0 {
		q, args = "INSERT INTO keyring(id, blob, version) VALUES (1, $1, 1) ON CONFLICT (id) DO NOTHING", args[:1]
	}
	tag, err := db.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: save keyring: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// KeyringSalt returns the passphrase salt stored beside the keyring.
func (s *Store) KeyringSalt(ctx context.Context) ([]byte, error) {
	var salt []byte
	err := s.pool.QueryRow(ctx, "SELECT salt FROM keyring_salt WHERE id = 1").Scan(&salt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("keyring salt: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: keyring salt: %w", err)
	}
	return salt, nil
}

// PutKeyringSalt stores salt unless a salt is stored, while the keyring's
// version is expectVersion, and returns the stored salt. The keyring table
// is locked in SHARE mode first: a keyring another replica is creating or
// changing is waited for, and none can change until this transaction ends,
// so the version compared (read by a statement whose snapshot is taken
// after the lock, under READ COMMITTED) is the committed one. Two replicas
// storing at once meet on the primary key as in PutSecretIfAbsent.
func (s *Store) PutKeyringSalt(ctx context.Context, salt []byte, expectVersion int64) ([]byte, error) {
	var out []byte
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE keyring IN SHARE MODE"); err != nil {
			return fmt.Errorf("postgres: put keyring salt: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO keyring_salt(id, salt)
			SELECT 1, $1 WHERE COALESCE((SELECT version FROM keyring WHERE id = 1), 0) = $2
			ON CONFLICT (id) DO NOTHING`, salt, expectVersion)
		if err != nil {
			return fmt.Errorf("postgres: put keyring salt: %w", err)
		}
		err = tx.QueryRow(ctx, "SELECT salt FROM keyring_salt WHERE id = 1").Scan(&out)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("keyring salt: %w", store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("postgres: put keyring salt: %w", err)
		}
		return nil
	})
	return out, err
}
