package guard

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/pii"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// cacheCases are bodies whose strings are long enough to be cached.
var cacheCases = []struct{ name, body string }{
	{"pii and secret", `{"messages":[{"role":"user","content":"` + strings.Repeat("pad ", 20) + `mail ` + email + ` card ` + card + ` token ` + ghTok + `"}]}`},
	{"injection", `{"messages":[{"role":"user","content":"` + attack + ` ` + strings.Repeat("and then some more words ", 4) + `"}]}`},
	{"benign chat", `{"messages":[{"role":"user","content":"` + strings.Repeat("Could you summarise the meeting notes? ", 4) + `"}]}`},
	{"same text twice", `{"a":"` + strings.Repeat("reach me at "+email+" ", 4) + `","b":"` + strings.Repeat("reach me at "+email+" ", 4) + `"}`},
}

// scanBoth scans body with a cached and an uncached engine (the cached one
// twice, so the second scan is served from the cache) and fails if any
// result differs.
func scanBoth(t testing.TB, cached, plain *Engine, ctx context.Context, body string, p Policy) {
	t.Helper()
	wantOut, wantF, wantErr := plain.ScanJSON(ctx, []byte(body), p, nil)
	for round := range 2 {
		out, f, err := cached.ScanJSON(ctx, []byte(body), p, nil)
		if string(out) != string(wantOut) || fmt.Sprint(f) != fmt.Sprint(wantF) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("round %d: cached (%q, %v, %v) != uncached (%q, %v, %v)", round, out, f, err, wantOut, wantF, wantErr)
		}
	}
}

func TestCachedEqualsUncached(t *testing.T) {
	cached, _ := newEngine(t)
	plain, err := New(nil, WithVerdictCache(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := identity.NewContext(context.Background(), &identity.Identity{KeyID: "k1", Tenant: "t1"})
	for _, tt := range cacheCases {
		for _, pol := range []string{"pii=redact,secrets=redact,injection=redact", "pii=log,secrets=block,injection=log", "pii=off,secrets=off,injection=block"} {
			t.Run(tt.name+"/"+pol, func(t *testing.T) {
				scanBoth(t, cached, plain, ctx, tt.body, mustPolicy(t, pol))
			})
		}
	}
	if n, _ := cached.cache.Stats(); n == 0 {
		t.Fatal("nothing was cached: the test did not exercise the cache")
	}
}

// TestCacheThresholdsApplyAfter checks that verdicts are cached before the
// policy's thresholds apply: a text first scanned under a lenient threshold
// is judged afresh under a strict one.
func TestCacheThresholdsApplyAfter(t *testing.T) {
	e, _ := newEngine(t)
	body := []byte(`{"q":"` + strings.Repeat("hello there ", 8) + email + `"}`)
	tests := []struct {
		name   string
		policy string
		want   int
	}{
		{"threshold keeps the email", "pii=redact,pii_threshold=0.5", 1},
		{"threshold above its confidence drops it", "pii=redact,pii_threshold=0.99", 0},
		{"kept again", "pii=redact,pii_threshold=0.5", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f, err := e.ScanJSON(context.Background(), body, mustPolicy(t, tt.policy), nil)
			if err != nil || len(f) != tt.want {
				t.Fatalf("findings %+v err %v, want %d", f, err, tt.want)
			}
		})
	}
}

// TestPanicIsNotCached makes a detector panic on a text, then fixes it: the
// next scan must run the detector, not reuse an empty verdict.
func TestPanicIsNotCached(t *testing.T) {
	e, _ := newEngine(t)
	body := []byte(`{"q":"` + strings.Repeat("long enough to be cached ", 4) + email + `"}`)
	p := mustPolicy(t, "pii=redact")
	e.pii = func(string) []Span { panic("detector bug") }
	if _, _, err := e.ScanJSON(context.Background(), body, p, nil); err == nil {
		t.Fatal("panicking detector did not fail the scan")
	}
	e.pii = pii.Detect
	out, f, err := e.ScanJSON(context.Background(), body, p, nil)
	if err != nil || len(f) != 1 || strings.Contains(string(out), email) {
		t.Fatalf("after the fix: out %q findings %+v err %v", out, f, err)
	}
}

// TestCachePartitions checks that callers do not share verdicts: a second
// caller's scan of the same text runs the detectors again.
func TestCachePartitions(t *testing.T) {
	e, _ := newEngine(t)
	calls := 0
	e.pii = func(s string) []Span {
		if len(s) >= minCached { // the short key "q" is never cached
			calls++
		}
		return pii.Detect(s)
	}
	body := []byte(`{"q":"` + strings.Repeat("long enough to be cached ", 4) + `"}`)
	p := mustPolicy(t, "pii=redact")
	ctxFor := func(tenant, key string) context.Context {
		return identity.NewContext(context.Background(), &identity.Identity{KeyID: key, Tenant: tenant})
	}
	tests := []struct {
		name      string
		ctx       context.Context
		wantCalls int
	}{
		{"first caller scans", ctxFor("t1", "k1"), 1},
		{"same caller is served from the cache", ctxFor("t1", "k1"), 1},
		{"another key of the tenant scans", ctxFor("t1", "k2"), 2},
		{"another tenant scans", ctxFor("t2", "k1"), 3},
		{"no identity scans", context.Background(), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := e.ScanJSON(tt.ctx, body, p, nil); err != nil {
				t.Fatal(err)
			}
			if calls != tt.wantCalls {
				t.Fatalf("detector ran %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// FuzzCachedEqualsUncached checks on any body and policy choice that a
// cached engine, scanning twice, returns exactly what an uncached one does.
func FuzzCachedEqualsUncached(f *testing.F) {
	for i, tt := range cacheCases {
		f.Add(tt.body, uint8(i))
	}
	cached, _ := newEngine(f)
	plain, err := New(nil, WithVerdictCache(0))
	if err != nil {
		f.Fatal(err)
	}
	policies := []Policy{
		mustPolicy(f, "pii=redact,secrets=redact,injection=redact"),
		mustPolicy(f, "pii=log,secrets=redact,injection=log"),
		mustPolicy(f, "pii=block,secrets=off,injection=block,injection_threshold=0.3"),
	}
	f.Fuzz(func(t *testing.T, body string, pol uint8) {
		scanBoth(t, cached, plain, context.Background(), body, policies[int(pol)%len(policies)])
	})
}
