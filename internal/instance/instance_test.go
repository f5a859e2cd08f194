package instance_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/barrier/barriertest"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

func newConfig(t *testing.T) *config.Config {
	t.Helper()
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c.SetMasterKey(hex.EncodeToString(key))
	return c
}

func open(t *testing.T, c *config.Config) *instance.Instance {
	t.Helper()
	in, err := instance.Open(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func TestKeyringStoreConformanceOnSQLite(t *testing.T) {
	barriertest.RunKeyringStore(t, func(t *testing.T) barrier.KeyringStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return instance.KeyringStore{S: st}
	})
}

func addProvider(t *testing.T, in *instance.Instance, name, secret string) {
	t.Helper()
	p := store.Provider{Name: name, Type: "openai", BaseURL: "https://example.invalid/v1"}
	if err := in.PutProvider(context.Background(), "test", p, []byte(secret)); err != nil {
		t.Fatal(err)
	}
}

func rawDB(t *testing.T, c *config.Config) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.DataDir, sqlite.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestProviderCredentialRoundTripAndNotInClear(t *testing.T) {
	c := newConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "sk-secret-aaaaaaaaaaaaaaaa")
	p, err := in.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Credential, "enc:v1:") || strings.Contains(p.Credential, "sk-secret") {
		t.Fatalf("stored credential %q is not barrier ciphertext", p.Credential)
	}
	got, err := in.ProviderCredential(p)
	if err != nil || got != "sk-secret-aaaaaaaaaaaaaaaa" {
		t.Fatalf("ProviderCredential = %q, %v", got, err)
	}
}

func TestCiphertextMovedToAnotherRowFails(t *testing.T) {
	c := newConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "credential-of-a-xxxxxxxx")
	addProvider(t, in, "b", "credential-of-b-yyyyyyyy")
	db := rawDB(t, c)
	// An attacker with database write access copies a's ciphertext into b.
	if _, err := db.Exec(`UPDATE providers SET credential = (SELECT credential FROM providers WHERE name='a') WHERE name='b'`); err != nil {
		t.Fatal(err)
	}
	p, err := in.Store.GetProvider(context.Background(), store.DefaultTenant, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := in.ProviderCredential(p); err == nil {
		t.Fatalf("moved ciphertext decrypted to %q", got)
	}
}

// Someone who can write the database but has no master key repoints a
// provider (its base_url, or its type) at a host of theirs: the credential
// must not open for it. It used to — the ciphertext was bound to the row
// only — and the next call carried the key there in clear.
func TestRepointedProviderCredentialDoesNotOpen(t *testing.T) {
	for _, change := range []string{`base_url = 'https://attacker.example/v1'`, `type = 'anthropic'`} {
		c := newConfig(t)
		in := open(t, c)
		addProvider(t, in, "a", "sk-real-credential-aaaaaaaa")
		if _, err := rawDB(t, c).Exec(`UPDATE providers SET ` + change + ` WHERE name='a'`); err != nil {
			t.Fatal(err)
		}
		p, err := in.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := in.ProviderCredential(p); err == nil {
			t.Fatalf("after SET %s the credential opened: %q", change, got)
		}
	}
}

// Credentials sealed before the type and base URL were bound are re-sealed
// when the instance opens: they keep working, and from then on open only
// with the base URL they were stored with.
func TestLegacyProviderCredentialsAreRebound(t *testing.T) {
	c := newConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "placeholder")
	legacy, err := in.Barrier.EncryptText(barrier.AAD{Table: "providers", ID: "default/a", Field: "credential"}, []byte("sk-legacy-credential-bbbb"))
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, c)
	if _, err := db.Exec(`UPDATE providers SET credential = ? WHERE name='a'`, legacy); err != nil {
		t.Fatal(err)
	}
	in.Close()
	in = open(t, c)
	p, err := in.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := in.ProviderCredential(p); err != nil || got != "sk-legacy-credential-bbbb" {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
	if p.Credential == legacy {
		t.Fatal("the legacy ciphertext was not re-sealed")
	}
	if _, err := db.Exec(`UPDATE providers SET base_url = 'https://attacker.example/v1' WHERE name='a'`); err != nil {
		t.Fatal(err)
	}
	if p, _ = in.Store.GetProvider(context.Background(), store.DefaultTenant, "a"); p != nil {
		if got, err := in.ProviderCredential(p); err == nil {
			t.Fatalf("a rebound credential opened for another base URL: %q", got)
		}
	}
}

func TestNoPlaintextFallback(t *testing.T) {
	c := newConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "real-credential-zzzzzzzz")
	db := rawDB(t, c)
	for _, v := range []string{"sk-plaintext-credential", "enc:v0:abc", "enc:v1:", "enc:v1:!!!!"} {
		if _, err := db.Exec(`UPDATE providers SET credential = ? WHERE name='a'`, v); err != nil {
			t.Fatal(err)
		}
		p, _ := in.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
		if got, err := in.ProviderCredential(p); err == nil {
			t.Fatalf("stored %q was accepted as credential %q", v, got)
		}
	}
}

func TestRotateRewrapsAndOtherProcessesDecrypt(t *testing.T) {
	c := newConfig(t)
	a := open(t, c)
	addProvider(t, a, "old", "credential-before-rotation")
	b := open(t, c) // a second process on the same data dir (serve)
	ctx := context.Background()
	term, err := a.Barrier.Rotate(ctx)
	if err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v", term, err)
	}
	addProvider(t, a, "new", "credential-after-rotation")
	n, err := a.Rewrap(ctx)
	if err != nil || n < 1 {
		t.Fatalf("Rewrap moved %d records: %v", n, err)
	}
	for _, name := range []string{"old", "new"} {
		p, err := b.Store.GetProvider(ctx, store.DefaultTenant, name)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := barrier.ParseText(p.Credential)
		if b.Barrier.NeedsRewrap(ct) {
			t.Errorf("%s still under an old term after rewrap", name)
		}
		if _, err := b.ProviderCredential(p); err != nil {
			t.Errorf("the other process cannot decrypt %s after rotate: %v", name, err)
		}
	}
}

func TestRekeyKeepsDataAndRefusesOldKey(t *testing.T) {
	c := newConfig(t)
	in := open(t, c)
	addProvider(t, in, "a", "credential-kept-through-rekey")
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		t.Fatal(err)
	}
	if err := in.Barrier.Rekey(context.Background(), newKey); err != nil {
		t.Fatal(err)
	}
	in.Close()
	if _, err := instance.Open(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil))); !errors.Is(err, barrier.ErrWrongRootKey) {
		t.Fatalf("old master key after rekey: %v", err)
	}
	c.SetMasterKey(hex.EncodeToString(newKey))
	in2 := open(t, c)
	p, _ := in2.Store.GetProvider(context.Background(), store.DefaultTenant, "a")
	if got, err := in2.ProviderCredential(p); err != nil || got != "credential-kept-through-rekey" {
		t.Fatalf("after rekey: %q %v", got, err)
	}
}

func TestDevelopmentGeneratesKeyFileOnce(t *testing.T) {
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	in := open(t, c)
	if !in.GeneratedKey {
		t.Fatal("no key generated in development")
	}
	fi, err := os.Stat(filepath.Join(c.DataDir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v %v", fi, err)
	}
	dfi, _ := os.Stat(c.DataDir)
	if dfi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %o, want 700", dfi.Mode().Perm())
	}
	in.Close()
	if in2 := open(t, c); in2.GeneratedKey {
		t.Fatal("key regenerated on second open")
	}
}

// A provider may not read its credential from a variable this
// configuration reads one of its own secrets from (the Redis URL and its
// password, the PostgreSQL DSN, the introspection client secret),
// whatever it is named: an admin:global key could otherwise point a
// provider at a host of theirs and receive it as a bearer token.
func TestConfiguredSecretVariableNeverAProviderCredential(t *testing.T) {
	c := newConfig(t)
	c.Redis.URLEnv = "APP_REDIS_URL"
	c.Database.DSNEnv = "APP_PG_DSN"
	c.Tools.OAuth.Introspection.ClientSecretEnv = "APP_IDP_SECRET"
	in := open(t, c)
	for _, env := range []string{"APP_REDIS_URL", "APP_PG_DSN", "APP_IDP_SECRET", "BULWARK_REDIS_URL"} {
		p := store.Provider{Name: "evil", Type: "openai", BaseURL: "https://attacker.example/v1", CredentialEnv: env}
		if err := in.PutProvider(context.Background(), "admin", p, nil); err == nil {
			t.Errorf("a provider may read its credential from %s", env)
		}
	}
	if err := in.PutProvider(context.Background(), "admin", store.Provider{Name: "ok", Type: "openai", BaseURL: "https://api.openai.com/v1", CredentialEnv: "OPENAI_API_KEY"}, nil); err != nil {
		t.Fatalf("an ordinary variable: %v", err)
	}
	// A row written around the check (straight into the store) is refused
	// when the credential is read.
	p := store.Provider{Tenant: store.DefaultTenant, Name: "planted", Type: "openai", BaseURL: "https://attacker.example/v1", CredentialEnv: "APP_REDIS_URL"}
	t.Setenv("APP_REDIS_URL", "redis://:hunter2@127.0.0.1:6379")
	if v, err := in.ProviderCredential(&p); err == nil || v != "" {
		t.Fatalf("ProviderCredential read %q", v)
	}
}
