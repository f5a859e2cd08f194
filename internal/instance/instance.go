// Package instance opens a Bulwark data directory: it loads the root key,
// opens the store and the barrier, and derives the long-lived secrets
// (key-hash key, audit MAC key, token signing key) kept encrypted in the
// store. Both `serve` and every CLI command that touches state go through
// Open, so they always agree on keys and layout.
package instance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// Names of the secrets kept (encrypted) in the store.
const (
	SecretKeyHash   = "key_hash_key"  //nolint:gosec // G101: the name a secret is stored under, not a secret
	SecretAuditMAC  = "audit_mac_key" //nolint:gosec // G101: the name a secret is stored under, not a secret
	SecretTokenSign = "token_signing_key"
	devKeyFile      = "master.key"
)

// Instance is an opened data directory. Safe for concurrent use.
type Instance struct {
	Cfg     *config.Config
	Store   store.Store
	Barrier *barrier.Barrier
	Audit   *audit.Log
	Keys    *auth.Keys
	Log     *slog.Logger
	// TokenKey signs short-lived access tokens (MCP / OAuth).
	TokenKey []byte
	// GeneratedKey is true when Open created a development key file.
	GeneratedKey bool
}

// Open opens (creating if needed) the data directory named by cfg.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Instance, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// The key source is checked before the store is opened, so a missing
	// or weak key leaves no database behind. A passphrase is checked too,
	// but its key needs the salt kept in the store.
	root, generated, err := rootKey(cfg)
	passphrase := errors.Is(err, barrier.ErrNoSalt)
	if err != nil && !passphrase {
		return nil, err
	}
	defer clear(root)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	in := &Instance{Cfg: cfg, Store: st, Log: log, GeneratedKey: generated}
	if passphrase {
		err = in.unsealPassphrase(ctx)
	} else {
		err = in.openBarrier(ctx, root)
	}
	if err != nil {
		_ = in.Close()
		return nil, err
	}
	n, err := in.rebindProviders(ctx)
	if err != nil {
		_ = in.Close()
		return nil, fmt.Errorf("bind provider credentials to their base URLs: %w", err)
	}
	if n > 0 && log != nil {
		log.Info("provider credentials bound to their type and base URL", "providers", n)
	}
	return in, nil
}

// openStore opens the store cfg selects: PostgreSQL, or SQLite in the
// data directory.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.Database.DriverName() != config.DriverPostgres {
		return sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqlite.FileName))
	}
	// The DSN holds a password: it comes from the environment only and is
	// never logged (postgres.Open logs host and database).
	dsn, err := cfg.Database.PostgresDSN(os.Getenv, cfg.Production())
	if err != nil {
		return nil, err
	}
	return postgres.Open(ctx, dsn, postgres.Options{MaxConns: cfg.Database.MaxConns, Log: log})
}

func (in *Instance) openBarrier(ctx context.Context, root []byte) error {
	b, err := barrier.New(KeyringStore{in.Store}, root)
	if err != nil {
		return fmt.Errorf("open barrier: %w", err)
	}
	in.Barrier = b
	hashKey, err := in.secret(ctx, SecretKeyHash)
	if err != nil {
		return err
	}
	macKey, err := in.secret(ctx, SecretAuditMAC)
	if err != nil {
		return err
	}
	if in.TokenKey, err = in.secret(ctx, SecretTokenSign); err != nil {
		return err
	}
	if in.Audit, err = audit.New(in.Store, macKey); err != nil {
		return err
	}
	in.Keys = auth.NewKeys(in.Store, hashKey, in.Audit)
	return nil
}

// Close seals the barrier and closes the store.
func (in *Instance) Close() error {
	if in.Barrier != nil {
		in.Barrier.Seal()
	}
	return in.Store.Close()
}

// secretAAD binds a secret's ciphertext to its row.
func secretAAD(name string) barrier.AAD {
	return barrier.AAD{Table: "secrets", ID: name, Field: "value"}
}

// secret returns the named 32-byte secret, creating it on first use. The
// first process to store it wins; everyone decrypts the stored value.
func (in *Instance) secret(ctx context.Context, name string) ([]byte, error) {
	ct, err := in.Store.GetSecret(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		enc, err := in.Barrier.EncryptText(secretAAD(name), fresh)
		clear(fresh)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		if ct, err = in.Store.PutSecretIfAbsent(ctx, name, enc); err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	pt, err := in.Barrier.DecryptText(secretAAD(name), ct)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return pt, nil
}

// rootKey loads the root key from the environment or key file; in
// development with neither, it uses (creating once) <data dir>/master.key.
// A passphrase returns barrier.ErrNoSalt once it has passed the length
// and strength checks: its key is derived by unsealPassphrase with the
// salt stored in the database.
func rootKey(cfg *config.Config) ([]byte, bool, error) {
	src := barrier.Source{Key: cfg.MasterKey(), KeyFile: cfg.MasterKeyFile, Production: cfg.Production()}
	if src.Key != "" || src.KeyFile != "" {
		k, err := barrier.LoadRootKey(src)
		return k, false, err
	}
	if cfg.Production() {
		return nil, false, barrier.ErrNoRootKey
	}
	path := filepath.Join(cfg.DataDir, devKeyFile)
	k, err := barrier.LoadRootKey(barrier.Source{KeyFile: path})
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err = barrier.GenerateKeyFile(path)
	return k, true, err
}

// KeyringStore adapts store.Store to barrier.KeyringStore.
type KeyringStore struct{ S store.Store }

// LoadKeyring implements barrier.KeyringStore.
func (k KeyringStore) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	b, v, err := k.S.LoadKeyring(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, barrier.ErrNotFound
	}
	return b, v, err
}

// KeyringVersion implements barrier.KeyringVersioner: the barrier's
// watch reads the version alone rather than the whole keyring.
func (k KeyringStore) KeyringVersion(ctx context.Context) (int64, error) {
	return k.S.KeyringVersion(ctx)
}

// SaveKeyring implements barrier.KeyringStore.
func (k KeyringStore) SaveKeyring(ctx context.Context, blob []byte, expect int64) error {
	err := k.S.SaveKeyring(ctx, blob, expect)
	if errors.Is(err, store.ErrConflict) {
		return barrier.ErrConflict
	}
	return err
}

// SaveKeyringSalt implements barrier.SaltStore: a rekey saves the keyring
// and its new root key's salt (none for a raw key) in one transaction.
func (k KeyringStore) SaveKeyringSalt(ctx context.Context, blob, salt []byte, expect int64) error {
	err := k.S.SaveKeyringSalt(ctx, blob, salt, expect)
	if errors.Is(err, store.ErrConflict) {
		return barrier.ErrConflict
	}
	return err
}

var (
	_ barrier.SaltStore        = KeyringStore{}
	_ barrier.KeyringVersioner = KeyringStore{}
)
