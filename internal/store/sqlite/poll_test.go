package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

func usageBatch(n int) []store.Usage {
	rows := make([]store.Usage, n)
	for i := range rows {
		rows[i] = store.Usage{Time: time.Now(), RequestID: fmt.Sprintf("req_%06d", i), Tenant: store.DefaultTenant, KeyID: "bk_x",
			Model: "m", Provider: "p", Endpoint: "chat.completions", Status: 200}
	}
	return rows
}

// The polled reads (the keys' generation, the keyring's version) run on
// the usage connection between its own batches: each must still see what
// another handle on the file — `bulwark keys create` in another process,
// a rotation — committed since, however many usage rows the polling
// handle wrote in between.
func TestPolledReadsSeeOtherHandlesWrites(t *testing.T) {
	ctx := context.Background()
	serve, path := openWithPath(t, "b.db")
	cli, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	poll := func() (gen, ver int64) {
		t.Helper()
		if err := serve.InsertUsage(ctx, usageBatch(40)); err != nil {
			t.Fatal(err)
		}
		if gen, err = serve.KeysGeneration(ctx); err != nil {
			t.Fatal(err)
		}
		if ver, err = serve.KeyringVersion(ctx); err != nil {
			t.Fatal(err)
		}
		return gen, ver
	}
	g0, v0 := poll()
	if v0 != 0 {
		t.Fatalf("keyring version %d before any keyring, want 0", v0)
	}
	if g, v := poll(); g != g0 || v != v0 {
		t.Fatalf("after usage rows alone: generation %d→%d, version %d→%d; want both unchanged", g0, g, v0, v)
	}
	k := &store.Key{ID: "k1", Tenant: store.DefaultTenant, Name: "made elsewhere", Hash: []byte{7}, Scopes: []string{"llm"}, CreatedAt: time.Now().UTC()}
	if err := cli.CreateKey(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	if err := cli.SaveKeyring(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	_, want, err := cli.LoadKeyring(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g1, v1 := poll()
	if g1 == g0 || v1 != want {
		t.Fatalf("after a key and a keyring saved on another handle: generation %d (was %d), version %d (want %d)", g1, g0, v1, want)
	}
	if _, err := cli.UpdateKey(ctx, "k1", func(k *store.Key) error { now := time.Now().UTC(); k.RevokedAt = &now; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if g2, _ := poll(); g2 == g1 {
		t.Fatalf("a revocation on another handle left the generation at %d", g2)
	}
}

// BenchmarkKeysGenerationPoll is the key cache's poll, alone and after a
// usage batch committed on the same handle (as under load: ≈ 375 rows
// between two polls at 1 500 requests/s).
func BenchmarkKeysGenerationPoll(b *testing.B) {
	for _, rows := range []int{0, 375} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			s := openTB(b)
			defer s.Close()
			ctx := context.Background()
			batch := usageBatch(rows)
			var spent time.Duration
			for range b.N {
				if err := s.InsertUsage(ctx, batch); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if _, err := s.KeysGeneration(ctx); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(t0)
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N), "ns/poll")
		})
	}
}
