package instance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// SaltFileName is where versions before the salt was stored in the
// database kept it, in every data directory. It is read only to import
// it and to refuse one that disagrees with the database; it is never
// written. A rekey makes it stale.
const SaltFileName = "passphrase.salt"

// Errors about the passphrase salt. Their messages name the salt file,
// never a salt or the passphrase.
var (
	// ErrSaltMismatch means <data dir>/passphrase.salt holds another salt
	// than the one stored in the database beside the keyring.
	ErrSaltMismatch = errors.New("passphrase salt mismatch")
	// ErrSaltMissing means the stored keyring was sealed under a
	// passphrase whose salt is neither in the database nor in the data
	// directory.
	ErrSaltMissing = errors.New("passphrase salt missing")
)

// unsealPassphrase derives the root key from the passphrase and the salt
// stored in the database, and opens the barrier with it. A salt read
// from the data directory for a keyring sealed before salts were stored
// is imported only once it has opened that keyring, so a wrong file
// never reaches the database.
func (in *Instance) unsealPassphrase(ctx context.Context) error {
	path := filepath.Join(in.Cfg.DataDir, SaltFileName)
	salt, importAt, err := passphraseSalt(ctx, in.Store, path)
	if err != nil {
		return err
	}
	root, err := barrier.LoadRootKey(barrier.Source{Key: in.Cfg.MasterKey(), Salt: salt, Production: in.Cfg.Production()})
	if err != nil {
		return err
	}
	defer clear(root)
	err = in.openBarrier(ctx, root)
	if importAt == 0 {
		return err
	}
	if errors.Is(err, barrier.ErrWrongRootKey) {
		return fmt.Errorf("%w; the keyring's passphrase salt is not in the database yet and was read from %s: the passphrase or that file is not the one the keyring was sealed with (copy the file from the host that created the keyring)", err, path)
	}
	if err != nil {
		return err
	}
	return in.importSalt(ctx, salt, importAt, path)
}

// passphraseSalt returns the salt for the passphrase root key: the one
// stored in the database; else, for a keyring sealed before salts were
// stored, the salt file's, with the keyring version to import it at
// (importAt > 0); else, with no keyring yet, the file's salt or a fresh
// one, stored first (one salt however many replicas start at once).
func passphraseSalt(ctx context.Context, st store.Store, path string) (salt []byte, importAt int64, err error) {
	file, err := readSaltFile(path)
	if err != nil {
		return nil, 0, err
	}
	for range 2 {
		stored, err := st.KeyringSalt(ctx)
		if err == nil {
			return stored, 0, agree(stored, file, path)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, 0, fmt.Errorf("passphrase salt: %w", err)
		}
		_, version, err := st.LoadKeyring(ctx)
		switch {
		case err == nil && file == nil:
			return nil, 0, fmt.Errorf("%w: no passphrase salt is stored beside the keyring: either the keyring is sealed under a raw key (`bulwark rekey` to a raw key removes the salt; set %s to that key), or it was sealed before its salt was kept in the database and %s does not exist: copy %s from the host that created the keyring to %s (its salt is then stored in the database and the file needed no more)",
				ErrSaltMissing, barrier.EnvMasterKey, path, SaltFileName, path)
		case err == nil:
			return file, version, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, 0, fmt.Errorf("passphrase salt: %w", err)
		}
		fresh := file
		if fresh == nil {
			if fresh, err = barrier.NewSalt(); err != nil {
				return nil, 0, err
			}
		}
		stored, err = st.PutKeyringSalt(ctx, fresh, 0)
		if errors.Is(err, store.ErrConflict) {
			continue // a keyring without a salt appeared meanwhile: look again
		}
		if err != nil {
			return nil, 0, fmt.Errorf("passphrase salt: %w", err)
		}
		return stored, 0, agree(stored, file, path)
	}
	return nil, 0, fmt.Errorf("passphrase salt: %w", store.ErrConflict)
}

// importSalt stores salt, which has just opened the keyring at version,
// in the database. A keyring rotated meanwhile leaves it for the next
// start: the salt still comes from the file until then.
func (in *Instance) importSalt(ctx context.Context, salt []byte, version int64, path string) error {
	stored, err := in.Store.PutKeyringSalt(ctx, salt, version)
	if errors.Is(err, store.ErrConflict) {
		in.warn("passphrase salt not imported: the keyring changed while starting; the next start imports it", "file", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("import passphrase salt: %w", err)
	}
	if err := agree(stored, salt, path); err != nil {
		return err
	}
	if in.Log != nil {
		in.Log.Info("passphrase salt imported into the database; the salt file is no longer needed and may be removed", "file", path)
	}
	return nil
}

// agree checks a salt stored in the database and that the salt file, if
// any, holds the same one. Salts are not secret: no constant time needed.
func agree(stored, file []byte, path string) error {
	if len(stored) != barrier.SaltSize {
		return fmt.Errorf("the passphrase salt stored in the database is damaged (%d bytes); restore the database from backup", len(stored))
	}
	if file != nil && !bytes.Equal(stored, file) {
		return fmt.Errorf("%w: %s differs from the salt stored in the database beside the keyring (the one the keyring opens with): remove the stale file, it is no longer needed",
			ErrSaltMismatch, path)
	}
	return nil
}

// readSaltFile returns the salt in path, or nil when there is no file.
func readSaltFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("passphrase salt: %w", err)
	case len(b) != barrier.SaltSize:
		return nil, fmt.Errorf("passphrase salt %s is damaged (%d bytes): restore it from backup, or remove it if the database holds the salt", path, len(b))
	}
	return b, nil
}

func (in *Instance) warn(msg string, args ...any) {
	if in.Log != nil {
		in.Log.Warn(msg, args...)
	}
}
