package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
)

// Two replicas configured with database.driver postgres, each with its own
// data directory and the same master key, share one keyring, one set of
// derived secrets, the keys and the audit chain: a key made on one
// authenticates on the other, and its revocation is seen there after a poll.
func TestInstancesShareStateThroughPostgres(t *testing.T) {
	t.Setenv(config.EnvDatabaseURL, pgtest.Start(t))
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ins [2]*instance.Instance
	for i := range ins {
		c := config.Default()
		c.DataDir = filepath.Join(t.TempDir(), "data")
		c.Database.Driver = config.DriverPostgres
		c.SetMasterKey(hex.EncodeToString(key))
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		in, err := instance.Open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.Close() })
		ins[i] = in
	}
	secret, rec, err := ins[0].Keys.Create(ctx, "admin:test", auth.KeySpec{Name: "app", Tenant: "default", Scopes: []string{"llm"}})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ins[1].Keys.Authenticate(ctx, secret); err != nil || id.KeyID != rec.ID {
		t.Fatalf("replica 2: Authenticate = %+v, %v", id, err)
	}
	if err := ins[0].Keys.Revoke(ctx, "admin:test", "default", rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := ins[1].Keys.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ins[1].Keys.Authenticate(ctx, secret); err == nil {
		t.Fatal("replica 2 accepts a key revoked on replica 1")
	}
	rep, err := ins[1].Audit.Verify(ctx, nil)
	if err != nil || rep.Entries < 2 {
		t.Fatalf("replica 2: audit verify = %+v, %v; want the create and the revoke", rep, err)
	}
}
