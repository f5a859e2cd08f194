package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
)

// A passphrase master key on replicas with separate data directories and
// one PostgreSQL: the Argon2id salt is read from each data directory's
// passphrase.salt, so a replica without the file the keyring was sealed
// with (none, or another) refuses to start with a message naming the file
// to copy; with the file copied it opens the keyring.
func TestPassphraseSaltMismatchNamesTheFile(t *testing.T) {
	const passphrase = "vivid otter gravel spoon 93 quartz"
	t.Setenv(config.EnvDatabaseURL, pgtest.Start(t))
	cfg := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte("database: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	replica := func() *harness {
		h := newHarness(t)
		h.env[config.EnvMasterKey], h.env[config.EnvConfig] = passphrase, cfg
		return h
	}
	a := replica()
	a.must("init")
	sealed, err := os.ReadFile(filepath.Join(a.dir, "passphrase.salt"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := replica()
	if err := os.MkdirAll(wrong.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wrong.dir, "passphrase.salt"), []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    *harness
	}{
		{"no salt file", replica()},
		{"another salt file", wrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(tt.h.dir, "passphrase.salt")
			code, _ := tt.h.run("", "keys", "list")
			msg := tt.h.logs.String()
			if code == 0 || !strings.Contains(msg, "the salt file "+file+" must be the one the keyring was sealed with") {
				t.Fatalf("exit %d, stderr %q; want a refusal naming %s", code, msg, file)
			}
			if strings.Contains(msg, passphrase) {
				t.Fatal("the passphrase appears in the error")
			}
			if err := os.WriteFile(file, sealed, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.h.must("keys", "list") // with the file copied, the replica opens the keyring
		})
	}
}
