package gatewayhook

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// TestKeyRecords reads the settings from a real key store: a key and a
// token minted from it get the key's settings, an introspected identity
// none, and a key that does not exist is an error (the request is refused).
func TestKeyRecords(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, err := audit.New(st, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeys(st, []byte(strings.Repeat("h", 32)), log)
	_, rec, err := keys.Create(ctx, "test", auth.KeySpec{Name: "k", Guard: "secrets=block"})
	if err != nil {
		t.Fatal(err)
	}
	get := KeyRecords(keys)
	tests := []struct {
		name    string
		id      identity.Identity
		want    string
		wantErr bool
	}{
		{name: "virtual key", id: identity.Identity{KeyID: rec.ID, Kind: identity.KindVirtualKey}, want: "secrets=block"},
		{name: "token minted from the key", id: identity.Identity{KeyID: rec.ID, Kind: identity.KindAccessToken}, want: "secrets=block"},
		{name: "introspected token", id: identity.Identity{KeyID: "ext-sub", Kind: identity.KindIntrospected}, want: ""},
		{name: "unknown key", id: identity.Identity{KeyID: "bw_nosuchkey", Kind: identity.KindVirtualKey}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := get(ctx, &tt.id)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("settings = %q, %v", got, err)
			}
			if err != nil && !errors.Is(err, auth.ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
}
