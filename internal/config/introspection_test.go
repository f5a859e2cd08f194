package config

import (
	"strings"
	"testing"
	"time"
)

const introspectionBase = "tools:\n  oauth:\n    introspection:\n      endpoint: https://idp.example.com/introspect\n      client_id: bulwark\n      tenants: {svc: acme}\n"

var introspectionCases = []struct {
	name, extra string
	wantErr     string // substring; "" means valid
}{
	{"defaults", "", ""},
	{"every cache key", "      max_cache_ttl: 2m\n      max_entries: 500\n      negative_cache_ttl: 10s\n      negative_cache_entries: 200\n", ""},
	{"negative cache at the bound", "      negative_cache_ttl: 5m\n", ""},
	{"negative cache past the bound", "      negative_cache_ttl: 5m1s\n", "negative_cache_ttl"},
	{"negative negative-cache ttl", "      negative_cache_ttl: -1s\n", "must not be negative"},
	{"negative negative-cache size", "      negative_cache_entries: -1\n", "must not be negative"},
	{"negative active-cache size", "      max_entries: -5\n", "must not be negative"},
	{"negative active ttl", "      max_cache_ttl: -1m\n", "must not be negative"},
	{"misspelt key", "      negative_ttl: 10s\n", "field negative_ttl not found"},
}

func TestIntrospectionSection(t *testing.T) {
	for _, tt := range introspectionCases {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := Decode([]byte(introspectionBase+tt.extra), c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("valid config refused: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIntrospectionCacheKeysDecode(t *testing.T) {
	c := Default()
	if err := Decode([]byte(introspectionBase+introspectionCases[1].extra), c); err != nil {
		t.Fatal(err)
	}
	in := c.Tools.OAuth.Introspection
	if in.MaxCacheTTL != 2*time.Minute || in.MaxEntries != 500 || in.NegativeCacheTTL != 10*time.Second || in.NegativeCacheEntries != 200 {
		t.Fatalf("decoded %+v", in)
	}
}

// FuzzIntrospectionSection: any introspection section either fails to
// decode or validate, or yields cache settings the introspector accepts
// (none negative, the refusal TTL within its bound).
func FuzzIntrospectionSection(f *testing.F) {
	for _, tt := range introspectionCases {
		f.Add(tt.extra)
	}
	f.Fuzz(func(t *testing.T, extra string) {
		c := Default()
		if Decode([]byte(introspectionBase+extra), c) != nil || c.Validate() != nil {
			return
		}
		in := c.Tools.OAuth.Introspection
		if in.MaxCacheTTL < 0 || in.MaxEntries < 0 || in.NegativeCacheTTL < 0 || in.NegativeCacheEntries < 0 || in.NegativeCacheTTL > maxNegativeCacheTTL {
			t.Fatalf("accepted %+v", in)
		}
	})
}
