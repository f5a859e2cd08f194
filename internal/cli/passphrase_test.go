package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
)

// A passphrase master key on replicas with separate, empty data
// directories and one PostgreSQL: the Argon2id salt lives in the database
// beside the keyring, so a second replica given only the passphrase and
// the database URL opens the keyring and serves — no salt file is copied
// or written, and the passphrase is in no row and no log. A stale salt
// file is refused naming it; an installation whose salt is only in a file
// (as versions before left it) is upgraded by the first start that has it.
// Replicas used to need <data dir>/passphrase.salt copied from the first:
// one without it created a fresh salt and could not open the keyring.
func TestPassphraseReplicasNeedNoSaltFile(t *testing.T) {
	const passphrase = "vivid otter gravel spoon 93 quartz"
	dsn := pgtest.Start(t)
	t.Setenv(config.EnvDatabaseURL, dsn)
	cfg := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte("database: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	replica := func() *harness {
		h := newHarness(t)
		h.env[config.EnvMasterKey], h.env[config.EnvConfig] = passphrase, cfg
		return h
	}
	saltFile := func(h *harness) string { return filepath.Join(h.dir, "passphrase.salt") }
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	a := replica()
	var admin createdKey
	if out := a.must("init", "--json"); json.Unmarshal([]byte(out), &admin) != nil || admin.Key == "" {
		t.Fatalf("init: %q", out)
	}
	b := replica()
	b.serve()
	if st := b.status("/v1/models", admin.Key); st != http.StatusOK {
		t.Fatalf("the admin key made on A, on replica B with an empty data directory: %d", st)
	}
	for _, h := range []*harness{a, b} {
		if _, err := os.Stat(saltFile(h)); !os.IsNotExist(err) {
			t.Fatalf("%s exists (%v); the salt belongs in the database", saltFile(h), err)
		}
		if strings.Contains(h.logs.String(), passphrase) {
			t.Fatal("the passphrase appears in a replica's log")
		}
	}
	var salt []byte
	if err := conn.QueryRow(ctx, "SELECT salt FROM keyring_salt").Scan(&salt); err != nil || len(salt) != 16 {
		t.Fatalf("stored salt: %d bytes, %v", len(salt), err)
	}
	for tbl, n := range rowsContaining(t, conn, passphrase, hex.EncodeToString([]byte(passphrase))) {
		if n > 0 {
			t.Errorf("the passphrase is in %d row(s) of %s", n, tbl)
		}
	}

	t.Run("a stale salt file is refused, naming it", func(t *testing.T) {
		h := replica()
		if err := os.MkdirAll(h.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(saltFile(h), []byte("0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _ := h.run("", "keys", "list")
		msg := h.logs.String()
		if code == 0 || !strings.Contains(msg, "passphrase salt mismatch: "+saltFile(h)+" differs from the salt stored in the database") {
			t.Fatalf("exit %d, stderr %q; want a refusal naming %s", code, msg, saltFile(h))
		}
		if strings.Contains(msg, passphrase) || strings.Contains(msg, hex.EncodeToString(salt)) {
			t.Fatal("the passphrase or the salt appears in the error")
		}
	})

	t.Run("a salt kept only in a file is imported by the first start that has it", func(t *testing.T) {
		// What versions before left in the database: the keyring, no salt.
		if _, err := conn.Exec(ctx, "DELETE FROM keyring_salt"); err != nil {
			t.Fatal(err)
		}
		bare := replica()
		code, _ := bare.run("", "keys", "list")
		if msg := bare.logs.String(); code == 0 || !strings.Contains(msg, "passphrase salt missing") || !strings.Contains(msg, saltFile(bare)) {
			t.Fatalf("exit %d, stderr %q; want a refusal naming %s", code, msg, saltFile(bare))
		}
		holder := replica()
		if err := os.MkdirAll(holder.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(saltFile(holder), salt, 0o600); err != nil {
			t.Fatal(err)
		}
		holder.must("keys", "list")
		bare.must("keys", "list") // the salt now comes from the database
	})
}
