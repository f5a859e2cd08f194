package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

func newKeys(tb testing.TB) *auth.Keys {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "a.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	lg, err := audit.New(st, []byte(strings.Repeat("k", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	return auth.NewKeys(st, []byte(strings.Repeat("h", 32)), lg)
}

// The keyed hash is checked with pooled MACs: concurrent callers with the
// right and wrong secrets of the same key each get their own verdict, and
// a pooled MAC left mid-way by one call never leaks into the next.
func TestAuthenticateConcurrentRightAndWrong(t *testing.T) {
	ctx := context.Background()
	k := newKeys(t)
	full, _, err := k.Create(ctx, "default", auth.KeySpec{Name: "a", Scopes: []string{auth.ScopeLLM}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := auth.NewSecretFor(full[len(auth.KeyPrefix) : len(auth.KeyPrefix)+16])
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 200 {
				if g%2 == 0 {
					if id, err := k.Authenticate(ctx, full); err != nil || id.Name != "a" {
						t.Errorf("right key: %v", err)
						return
					}
				} else if _, err := k.Authenticate(ctx, other); !errors.Is(err, auth.ErrUnknownKey) {
					t.Errorf("same id, other secret: %v, want ErrUnknownKey", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	k := newKeys(b)
	full, _, err := k.Create(ctx, "default", auth.KeySpec{Name: "a", Scopes: []string{auth.ScopeLLM}})
	if err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go k.Watch(wctx, 250*time.Millisecond) // as serve does: keeps the cache fresh
	if err := k.Poll(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := k.Authenticate(ctx, full); err != nil { // warm the cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Authenticate(ctx, full); err != nil {
			b.Fatal(err)
		}
	}
}
