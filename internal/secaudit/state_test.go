package secaudit

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

const testRootKey = "7d1f0c9e4b2a58e3a6c4d2f1b0e9a8c76d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"

// plainCredential is a provider credential written in clear behind the
// barrier's back; no output may ever contain it.
const plainCredential = "sk-live-PLAINTEXT-0123456789abcdef"

// newState opens a real data directory (SQLite, barrier, audit) under a
// raw master key and returns its config.
func newState(t *testing.T) (*config.Config, *instance.Instance) {
	t.Helper()
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.SetMasterKey(testRootKey)
	in, err := instance.Open(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return c, in
}

func createKey(t *testing.T, in *instance.Instance, spec auth.KeySpec) (secret string, id string) {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "k"
	}
	s, k, err := in.Keys.Create(context.Background(), "test", spec)
	if err != nil {
		t.Fatal(err)
	}
	return s, k.ID
}

func rawExec(t *testing.T, c *config.Config, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(c.DataDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestCheckState(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	tests := []struct {
		name   string
		setup  func(t *testing.T, c *config.Config, in *instance.Instance)
		later  time.Duration // audit this long after the setup
		getenv map[string]string
		want   []string      // findings expected (others may appear)
		absent []string      // findings that must not appear
		maxAge time.Duration // Input.MaxKeyAge (0: default)
	}{
		{"fresh llm key with expiry", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 30 * day})
		}, 0, nil, nil, []string{"BW-KEY-001", "BW-KEY-002", "BW-KEY-003", "BW-BAR-001", "BW-AUD-001"}, 0},
		{"admin key without expiry", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Scopes: []string{auth.ScopeAdminGlobal}})
		}, 0, nil, []string{"BW-KEY-001", "BW-KEY-002"}, nil, 0},
		{"revoked admin key is fine", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			_, id := createKey(t, in, auth.KeySpec{Scopes: []string{auth.ScopeAdmin}})
			if _, err := in.Store.UpdateKey(ctx, id, func(k *store.Key) error {
				now := time.Now()
				k.RevokedAt = &now
				return nil
			}, nil); err != nil {
				t.Fatal(err)
			}
		}, 0, nil, nil, []string{"BW-KEY-001", "BW-KEY-002"}, 0},
		{"key idle 100 days", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 365 * day})
		}, 100 * day, nil, []string{"BW-KEY-003"}, nil, 0},
		{"guard bypass", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Scopes: []string{auth.ScopeLLM, auth.ScopeGuardBypass}, Expires: day})
		}, 0, nil, []string{"BW-KEY-004"}, nil, 0},
		{"key turns secrets off", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Guard: "secrets=off", Expires: day})
		}, 0, nil, []string{"BW-KEY-005"}, nil, 0},
		{"key blocks more", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Guard: "secrets=block", Expires: day})
		}, 0, nil, nil, []string{"BW-KEY-005"}, 0},
		{"term older than 90 days", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 365 * day})
		}, 91 * day, nil, []string{"BW-BAR-001"}, nil, 0},
		{"term older than the rotation age", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 365 * day})
			time.Sleep(1100 * time.Millisecond)
		}, 0, nil, []string{"BW-BAR-001"}, nil, time.Second},
		{"rotated since", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: 365 * day})
			time.Sleep(1100 * time.Millisecond)
			if _, err := in.Barrier.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			// as `bulwark rotate` records it
			if err := in.Audit.Append(ctx, audit.Event{Tenant: "default", Actor: "test", Action: "barrier.rotate"}); err != nil {
				t.Fatal(err)
			}
		}, 0, nil, nil, []string{"BW-BAR-001"}, time.Second},
		{"encrypted credential", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1"}, "sk-encrypted-secret")
		}, 0, nil, nil, []string{"BW-PRV-001", "BW-PRV-004", "BW-BAR-002"}, 0},
		{"credential in clear", func(t *testing.T, c *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1"}, "sk-encrypted-secret")
			rawExec(t, c, "UPDATE providers SET credential = ?", plainCredential)
		}, 0, nil, []string{"BW-PRV-001"}, nil, 0},
		{"credential moved from another row", func(t *testing.T, c *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "a", Type: "openai", BaseURL: "https://a.example/v1"}, "sk-a")
			putProvider(t, in, store.Provider{Name: "b", Type: "openai", BaseURL: "https://b.example/v1"}, "sk-b")
			rawExec(t, c, "UPDATE providers SET credential = (SELECT credential FROM providers WHERE name = 'a') WHERE name = 'b'")
		}, 0, nil, []string{"BW-PRV-004"}, []string{"BW-PRV-001"}, 0},
		{"credential under an old term", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1"}, "sk-x")
			if _, err := in.Barrier.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
		}, 0, nil, []string{"BW-BAR-002"}, nil, 0},
		{"stored provider variable unset", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1", CredentialEnv: "OA_KEY"}, "")
		}, 0, nil, []string{"BW-PRV-002"}, nil, 0},
		{"stored provider variable set", func(t *testing.T, _ *config.Config, in *instance.Instance) {
			putProvider(t, in, store.Provider{Name: "oa", Type: "openai", BaseURL: "https://api.openai.com/v1", CredentialEnv: "OA_KEY"}, "")
		}, 0, map[string]string{"OA_KEY": "v"}, nil, []string{"BW-PRV-002"}, 0},
		{"audit entry edited", func(t *testing.T, c *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: day})
			rawExec(t, c, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 1")
		}, 0, nil, []string{"BW-AUD-001"}, nil, 0},
		{"keys table unreadable", func(t *testing.T, c *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: day})
			rawExec(t, c, "ALTER TABLE keys RENAME TO keys_moved")
		}, 0, nil, []string{"BW-STA-002"}, []string{"BW-AUD-001"}, 0},
		{"audit log unreadable before the retention anchor", func(t *testing.T, c *config.Config, in *instance.Instance) {
			createKey(t, in, auth.KeySpec{Expires: day})
			createKey(t, in, auth.KeySpec{Expires: day})
			if n, err := in.Audit.Purge(ctx, time.Now().Add(day)); err != nil || n == 0 {
				t.Fatalf("purge: %d, %v", n, err)
			}
			// A row the verification (from the anchor on) never reads but
			// the term-age export (from the start) does, with a time that
			// does not scan.
			rawExec(t, c, "INSERT INTO audit_events VALUES (1, 'not-a-time', 't', 'a', 'x', 'y', 'success', '', '{}', 'm')")
		}, 0, nil, []string{"BW-AUD-002"}, []string{"BW-AUD-001"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, inst := newState(t)
			tt.setup(t, c, inst)
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			in := Input{Config: c, Getenv: func(k string) string { return tt.getenv[k] },
				Now: func() time.Time { return time.Now().Add(tt.later) }, MaxKeyAge: tt.maxAge}
			found := Run(ctx, in)
			expectIDs(t, found, tt.want, tt.absent)
			out, _ := json.Marshal(found)
			for _, secret := range []string{plainCredential, "sk-encrypted-secret", testRootKey} {
				if strings.Contains(string(out), secret) {
					t.Fatalf("findings contain a secret: %s", out)
				}
			}
		})
	}
}

func putProvider(t *testing.T, in *instance.Instance, p store.Provider, apiKey string) {
	t.Helper()
	var key []byte
	if apiKey != "" {
		key = []byte(apiKey)
	}
	if err := in.PutProvider(context.Background(), "test", p, key); err != nil {
		t.Fatal(err)
	}
}

// TestStateWithoutKey: a store the audit cannot open (no key, or another
// key) is critical, and the key is not echoed.
func TestStateWithoutKey(t *testing.T) {
	const otherKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	tests := []struct {
		name string
		key  string
	}{
		{"no key configured", ""},
		{"another key", otherKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, inst := newState(t)
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			c.SetMasterKey(tt.key)
			found := Run(context.Background(), Input{Config: c})
			f, ok := find(found, "BW-STA-001")
			if !ok || f.Severity != Critical {
				t.Fatalf("want critical BW-STA-001, got %+v", found)
			}
			if strings.Contains(f.Evidence, otherKey) || strings.Contains(f.Evidence, testRootKey) {
				t.Fatalf("evidence echoes a key: %q", f.Evidence)
			}
		})
	}
}
