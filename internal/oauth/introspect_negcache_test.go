package oauth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestIntrospectorNegativeCacheIsConfigurable: NegativeTTL and
// MaxNegativeEntries, as set before Init, are the refusal cache's lifetime
// and size (zero takes the defaults).
func TestIntrospectorNegativeCacheIsConfigurable(t *testing.T) {
	tests := []struct {
		name    string
		ttl     time.Duration
		entries int
		wantTTL time.Duration
	}{
		{"defaults", 0, 0, DefaultNegativeCacheTTL},
		{"short", 2 * time.Second, 3, 2 * time.Second},
		{"at the bound", MaxNegativeCacheTTL, 1, MaxNegativeCacheTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			in, as := newIntrospector(t, c, 0)
			in.NegativeTTL, in.MaxNegativeEntries = tt.ttl, tt.entries
			if err := in.Init(); err != nil {
				t.Fatal(err)
			}
			refuse := func() {
				t.Helper()
				if _, err := in.Authenticate(context.Background(), "tok-inactive"); !errors.Is(err, ErrInactive) {
					t.Fatalf("err = %v", err)
				}
			}
			refuse()
			c.t = c.t.Add(tt.wantTTL - time.Millisecond)
			refuse()
			if n := as.hitsFor("tok-inactive"); n != 1 {
				t.Fatalf("refusal not cached for %v: %d requests", tt.wantTTL, n)
			}
			c.t = c.t.Add(time.Millisecond)
			refuse()
			if n := as.hitsFor("tok-inactive"); n != 2 {
				t.Fatalf("refusal cached beyond %v: %d requests", tt.wantTTL, n)
			}
			want := tt.entries
			if want == 0 {
				return // the default cap (10 000) is TestIntrospectorRefusalCacheIsBounded's
			}
			for i := range want + 5 {
				_, _ = in.Authenticate(context.Background(), fmt.Sprintf("junk-%d", i))
			}
			if n := in.refused.len(); n != want {
				t.Fatalf("refusal cache holds %d entries, want its cap %d", n, want)
			}
		})
	}
}
