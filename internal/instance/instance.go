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
	SecretKeyHash    = "key_hash_key"  //nolint:gosec // G101: the name a secret is stored under, not a secret
	SecretAuditMAC   = "audit_mac_key" //nolint:gosec // G101: the name a secret is stored under, not a secret
	SecretTokenSign  = "token_signing_key"
	devKeyFile       = "master.key"
	passphraseSaltFn = "passphrase.salt"
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
	root, generated, err := rootKey(cfg)
	if err != nil {
		return nil, err
	}
	defer clear(root)
	var st store.Store
	switch cfg.Database.DriverName() {
	case config.DriverPostgres:
		// The DSN holds a password: it comes from the environment only and
		// is never logged (postgres.Open logs host and database).
		dsn, err := cfg.Database.PostgresDSN(os.Getenv, cfg.Production())
		if err != nil {
			return nil, err
		}
		st, err = postgres.Open(ctx, dsn, postgres.Options{MaxConns: cfg.Database.MaxConns, Log: log})
		if err != nil {
			return nil, err
		}
	default:
		sq, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqlite.FileName))
		if err != nil {
			return nil, err
		}
		st = sq
	}
	in := &Instance{Cfg: cfg, Store: st, Log: log, GeneratedKey: generated}
	if err := in.openBarrier(ctx, root); err != nil {
		_ = st.Close()
		return nil, saltHint(cfg, err)
	}
	n, err := in.rebindProviders(ctx)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("bind provider credentials to their base URLs: %w", err)
	}
	if n > 0 && log != nil {
		log.Info("provider credentials bound to their type and base URL", "providers", n)
	}
	return in, nil
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
func rootKey(cfg *config.Config) ([]byte, bool, error) {
	src := barrier.Source{Key: cfg.MasterKey(), KeyFile: cfg.MasterKeyFile, Production: cfg.Production()}
	if src.Key != "" && src.KeyFile == "" {
		salt, err := passphraseSalt(cfg.DataDir)
		if err != nil {
			return nil, false, err
		}
		src.Salt = salt
	}
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

// saltHint names the salt file when a passphrase key does not open the
// keyring: replicas sharing a database each read the salt from their own
// data directory, so a replica given the right passphrase but not the
// file the keyring was sealed with derives another key.
func saltHint(cfg *config.Config, err error) error {
	if !errors.Is(err, barrier.ErrWrongRootKey) || cfg.MasterKey() == "" || cfg.MasterKeyFile != "" {
		return err
	}
	return fmt.Errorf("%w; with a passphrase the salt file %s must be the one the keyring was sealed with: copy it from the host that created the keyring (every replica needs the same file)",
		err, filepath.Join(cfg.DataDir, passphraseSaltFn))
}

// passphraseSalt returns the per-installation salt for passphrase keys,
// creating it once. The salt is not secret; it only makes the derived key
// unique to this installation.
func passphraseSalt(dir string) ([]byte, error) {
	path := filepath.Join(dir, passphraseSaltFn)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == barrier.SaltSize:
		return b, nil
	case err == nil:
		return nil, fmt.Errorf("passphrase salt %s is damaged (%d bytes); restore it from backup", path, len(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("passphrase salt: %w", err)
	}
	salt, err := barrier.NewSalt()
	if err != nil {
		return nil, err
	}
	// Write a complete temp file, then link it into place: readers never
	// see a partial salt, and of two racing processes exactly one wins.
	tmp, err := os.CreateTemp(dir, ".salt-*")
	if err != nil {
		return nil, fmt.Errorf("passphrase salt: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // best effort: only a staging name; the salt is linked into place
	_, werr := tmp.Write(salt)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("passphrase salt: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return passphraseSalt(dir) // another process won the race
	} else if err != nil {
		return nil, fmt.Errorf("passphrase salt: %w", err)
	}
	return salt, nil
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

// SaveKeyring implements barrier.KeyringStore.
func (k KeyringStore) SaveKeyring(ctx context.Context, blob []byte, expect int64) error {
	err := k.S.SaveKeyring(ctx, blob, expect)
	if errors.Is(err, store.ErrConflict) {
		return barrier.ErrConflict
	}
	return err
}
