package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
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

// Replicas with empty data directories and one passphrase, started at
// once against an empty database, end with one salt in the database and
// one keyring they all open: none needs a salt file, and none is written.
// (Each used to create its own <data dir>/passphrase.salt, and every
// replica but the keyring's creator failed with the wrong master key.)
func TestPassphraseReplicasStartTogether(t *testing.T) {
	const passphrase = "vivid otter gravel spoon 93 quartz"
	dsn := pgtest.Start(t)
	t.Setenv(config.EnvDatabaseURL, dsn)
	ctx := context.Background()
	const n = 4
	ins := make([]*instance.Instance, n)
	dirs := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c := config.Default()
		c.DataDir = filepath.Join(t.TempDir(), "data")
		c.Database.Driver = config.DriverPostgres
		c.SetMasterKey(passphrase)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		dirs[i] = c.DataDir
		wg.Go(func() {
			<-start
			ins[i], errs[i] = instance.Open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		})
	}
	close(start)
	wg.Wait()
	for _, in := range ins {
		if in != nil {
			t.Cleanup(func() { _ = in.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("replicas starting together: %v", err)
	}
	for i, in := range ins {
		if !bytes.Equal(in.TokenKey, ins[0].TokenKey) {
			t.Fatalf("replica %d derived other secrets than replica 0", i)
		}
		if _, err := os.Stat(filepath.Join(dirs[i], "passphrase.salt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("replica %d wrote a salt file: %v", i, err)
		}
	}
	var salts int
	if err := pgxConnect(t, dsn).QueryRow(ctx, "SELECT count(*) FROM keyring_salt").Scan(&salts); err != nil || salts != 1 {
		t.Fatalf("%d salts stored (%v); want one", salts, err)
	}
	secret, rec, err := ins[1].Keys.Create(ctx, "admin:test", auth.KeySpec{Name: "app", Tenant: "default", Scopes: []string{"llm"}})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ins[n-1].Keys.Authenticate(ctx, secret); err != nil || id.KeyID != rec.ID {
		t.Fatalf("a key made on replica 1 on replica %d: %+v, %v", n-1, id, err)
	}
}
