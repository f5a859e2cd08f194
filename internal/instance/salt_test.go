package instance_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

const testPassphrase = "vivid otter gravel spoon 93 quartz"

func passphraseConfig(t *testing.T) *config.Config {
	t.Helper()
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.SetMasterKey(testPassphrase)
	return c
}

func saltFile(c *config.Config) string { return filepath.Join(c.DataDir, "passphrase.salt") }

func openErr(c *config.Config) error {
	in, err := instance.Open(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		_ = in.Close()
	}
	return err
}

// storedSalt reads the salt in c's database, outside any Instance.
func storedSalt(t *testing.T, c *config.Config) ([]byte, error) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(c.DataDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.KeyringSalt(context.Background())
}

// legacyInstallation makes what versions before the salt was stored in
// the database left: a keyring sealed under the passphrase and salt, the
// salt only in <data dir>/passphrase.salt.
func legacyInstallation(t *testing.T, c *config.Config, salt []byte) {
	t.Helper()
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saltFile(c), salt, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(c.DataDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := barrier.New(instance.KeyringStore{S: st}, barrier.DerivePassphrase([]byte(testPassphrase), salt))
	if err != nil {
		t.Fatal(err)
	}
	b.Seal()
}

func newSalt(t *testing.T) []byte {
	t.Helper()
	s, err := barrier.NewSalt()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noSecretIn fails if err shows the passphrase or either salt.
func noSecretIn(t *testing.T, err error, salts ...[]byte) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, testPassphrase) {
		t.Error("the passphrase appears in the error")
	}
	for _, s := range salts {
		if strings.Contains(msg, hex.EncodeToString(s)) || strings.Contains(msg, string(s)) {
			t.Error("a salt appears in the error")
		}
	}
}

// A passphrase installation keeps its salt in the database, not in the
// data directory: a data directory holds nothing a replica would need to
// copy, and the passphrase itself is stored nowhere.
func TestPassphraseSaltKeptInTheStore(t *testing.T) {
	c := passphraseConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "credential-under-a-passphrase")
	_ = in.Close()
	if _, err := os.Stat(saltFile(c)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("passphrase.salt in the data directory: %v; want the salt in the database only", err)
	}
	if s, err := storedSalt(t, c); err != nil || len(s) != barrier.SaltSize {
		t.Fatalf("stored salt: %d bytes, %v", len(s), err)
	}
	in = open(t, c)
	p, err := in.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := in.ProviderCredential(p); err != nil || got != "credential-under-a-passphrase" {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
	_ = in.Close()
	db, err := os.ReadFile(filepath.Join(c.DataDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(testPassphrase)) {
		t.Fatal("the passphrase is in the database file")
	}
}

// Upgrade: an installation whose salt is only in passphrase.salt opens
// as before, and the salt moves into the database, so the file is no
// longer needed.
func TestPassphraseSaltImportedFromFile(t *testing.T) {
	c := passphraseConfig(t)
	salt := newSalt(t)
	legacyInstallation(t, c, salt)
	if err := openErr(c); err != nil {
		t.Fatalf("legacy installation: %v", err)
	}
	if got, err := storedSalt(t, c); err != nil || !bytes.Equal(got, salt) {
		t.Fatalf("stored salt after the upgrade: %x, %v; want the file's", got, err)
	}
	if err := os.Remove(saltFile(c)); err != nil {
		t.Fatal(err)
	}
	if err := openErr(c); err != nil {
		t.Fatalf("without the salt file after the import: %v", err)
	}
}

// A salt file that disagrees with the database is refused, naming the
// file; one that agrees is read as before.
func TestPassphraseSaltFileMismatchRefused(t *testing.T) {
	c := passphraseConfig(t)
	_ = open(t, c).Close()
	stored, err := storedSalt(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saltFile(c), stored, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openErr(c); err != nil {
		t.Fatalf("with a salt file that agrees: %v", err)
	}
	stale := newSalt(t)
	if err := os.WriteFile(saltFile(c), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	err = openErr(c)
	if !errors.Is(err, instance.ErrSaltMismatch) || !strings.Contains(err.Error(), saltFile(c)) {
		t.Fatalf("with a stale salt file: %v; want ErrSaltMismatch naming %s", err, saltFile(c))
	}
	noSecretIn(t, err, stored, stale)
	if got, _ := storedSalt(t, c); !bytes.Equal(got, stored) {
		t.Fatal("the stored salt changed")
	}
}

// A keyring sealed before salts were stored, opened without its salt
// file, is refused naming the file to copy; no salt is made up for it.
func TestPassphraseSaltMissingRefused(t *testing.T) {
	c := passphraseConfig(t)
	salt := newSalt(t)
	legacyInstallation(t, c, salt)
	if err := os.Remove(saltFile(c)); err != nil {
		t.Fatal(err)
	}
	err := openErr(c)
	if !errors.Is(err, instance.ErrSaltMissing) || !strings.Contains(err.Error(), saltFile(c)) {
		t.Fatalf("without the salt file: %v; want ErrSaltMissing naming %s", err, saltFile(c))
	}
	noSecretIn(t, err, salt)
	if _, err := os.Stat(saltFile(c)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a salt file was created: %v", err)
	}
	if _, err := storedSalt(t, c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a salt was stored for a keyring it does not open: %v", err)
	}
	if err := os.WriteFile(saltFile(c), salt, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openErr(c); err != nil {
		t.Fatalf("with the salt file restored: %v", err)
	}
}

// A salt file that does not open a keyring sealed before salts were
// stored is not imported: the replica holding the right one still can.
func TestWrongSaltFileNotImported(t *testing.T) {
	c := passphraseConfig(t)
	salt := newSalt(t)
	legacyInstallation(t, c, salt)
	wrong := newSalt(t)
	if err := os.WriteFile(saltFile(c), wrong, 0o600); err != nil {
		t.Fatal(err)
	}
	err := openErr(c)
	if !errors.Is(err, barrier.ErrWrongRootKey) || !strings.Contains(err.Error(), saltFile(c)) {
		t.Fatalf("with a wrong salt file: %v; want ErrWrongRootKey naming %s", err, saltFile(c))
	}
	noSecretIn(t, err, salt, wrong)
	if _, err := storedSalt(t, c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the wrong salt was stored: %v", err)
	}
	if err := os.WriteFile(saltFile(c), salt, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openErr(c); err != nil {
		t.Fatalf("with the right salt file: %v", err)
	}
	if got, _ := storedSalt(t, c); !bytes.Equal(got, salt) {
		t.Fatal("the right salt was not imported")
	}
}

// A raw key in BULWARK_MASTER_KEY needs no salt: none is stored or
// written (a passphrase.salt file used to be created for it too).
func TestRawKeyStoresNoSalt(t *testing.T) {
	c := newConfig(t)
	_ = open(t, c).Close()
	if _, err := os.Stat(saltFile(c)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("passphrase.salt for a raw key: %v", err)
	}
	if _, err := storedSalt(t, c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a salt stored for a raw key: %v", err)
	}
}

// A passphrase refused as weak is refused before the store is opened:
// no database and no salt is left behind (a salt file used to be).
func TestWeakPassphraseLeavesNothing(t *testing.T) {
	c := passphraseConfig(t)
	c.Env = config.Production
	c.SetMasterKey("password-password-123456")
	if err := openErr(c); !errors.Is(err, barrier.ErrWeakKey) {
		t.Fatalf("weak passphrase in production: %v", err)
	}
	entries, err := os.ReadDir(c.DataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("the data directory holds %s after a refused passphrase", entries[0].Name())
	}
}
