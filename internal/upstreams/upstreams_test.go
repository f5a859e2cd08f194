package upstreams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// countingStore counts full listings of the providers table.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (c *countingStore) ListProviders(ctx context.Context, tenant string) ([]store.Provider, error) {
	c.lists.Add(1)
	return c.Store.ListProviders(ctx, tenant)
}

// Once its cache period has passed, the source lists the providers table
// again only when the providers generation moved: a provider another
// process adds is seen at the first check after it, and checks with
// nothing changed read the counter alone.
func TestSourceRelistsOnlyWhenProvidersChange(t *testing.T) {
	ctx := context.Background()
	c := config.Default()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c.SetMasterKey(hex.EncodeToString(key))
	open := func() *instance.Instance {
		in, err := instance.Open(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		return in
	}
	serve, cli := open(), open() // two processes on one data directory
	counted := &countingStore{Store: serve.Store}
	serve.Store = counted
	src := New(serve)
	src.ttl = 0 // every call is past the cache period

	names := func() map[string]bool {
		t.Helper()
		ps, err := src.Providers(ctx, store.DefaultTenant)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, p := range ps {
			m[p.Name] = true
		}
		return m
	}
	names()
	names()
	if n := counted.lists.Load(); n != 1 {
		t.Fatalf("%d listings for two calls with nothing changed; want 1", n)
	}
	p := store.Provider{Name: "added", Type: "mock", BaseURL: "http://127.0.0.1:1"}
	if err := cli.PutProvider(ctx, "test", p, nil); err != nil {
		t.Fatal(err)
	}
	if !names()["added"] {
		t.Fatal("a provider added by another process is not seen after the cache period")
	}
	if n := counted.lists.Load(); n != 2 {
		t.Fatalf("%d listings after one change; want 2", n)
	}
	if err := cli.Store.DeleteProvider(ctx, store.DefaultTenant, "added", nil); err != nil {
		t.Fatal(err)
	}
	if names()["added"] {
		t.Fatal("a provider removed by another process is still served")
	}
}
