package barrier

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealWipesKeyMaterial(t *testing.T) {
	root := bytes.Repeat([]byte{0x5a}, KeySize)
	b, err := New(&MemStore{}, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	held := [][]byte{b.root}
	for _, k := range b.ring.keys {
		held = append(held, k)
	}
	b.Seal()
	for i, k := range held {
		if !bytes.Equal(k, make([]byte, KeySize)) {
			t.Fatalf("key %d not zeroed by Seal", i)
		}
	}
	if !bytes.Equal(root, bytes.Repeat([]byte{0x5a}, KeySize)) {
		t.Fatal("New must copy the caller's root key, not keep (and wipe) it")
	}
}

func TestAADEncodingUnambiguous(t *testing.T) {
	hdr := []byte{0, 0, 0, 1, 1}
	tests := []struct {
		name string
		a, b AAD
	}{
		{"id/field split", AAD{"t", "a", "bc"}, AAD{"t", "ab", "c"}},
		{"table/id split", AAD{"ta", "b", "f"}, AAD{"t", "ab", "f"}},
		{"all shifted", AAD{"a", "bc", "d"}, AAD{"ab", "c", "d"}},
		{"length byte lookalike", AAD{"t", "\x00\x00\x00\x01x", "f"}, AAD{"t", "", "\x00\x00\x00\x01xf"}},
		{"swapped fields", AAD{"t", "api_key", "id1"}, AAD{"t", "id1", "api_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.a.encode(hdr), tt.b.encode(hdr)) {
				t.Fatalf("%+v and %+v encode identically", tt.a, tt.b)
			}
		})
	}
	a := AAD{"t", "1", "f"}
	if bytes.Equal(a.encode(hdr), a.encode([]byte{0, 0, 0, 2, 1})) {
		t.Fatal("the ciphertext header is not bound into the AAD")
	}
}

func TestUnmarshalKeyringStrict(t *testing.T) {
	ring, err := newKeyring(bytes.NewReader(bytes.Repeat([]byte{9}, KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	good := ring.marshal()
	if back, err := unmarshalKeyring(good); err != nil || !back.covers(ring) || back.active != 1 {
		t.Fatalf("marshal round trip: %v", err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"bad version", mutate(func(b []byte) []byte { b[4] = 2; return b })},
		{"zero count", mutate(func(b []byte) []byte { b[8] = 0; return b[:9] })},
		{"count too large", mutate(func(b []byte) []byte { b[8] = 2; return b })},
		{"term zero", mutate(func(b []byte) []byte { b[12] = 0; return b })},
		{"truncated key", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := unmarshalKeyring(tt.blob); !errors.Is(err, ErrCorruptKeyring) {
				t.Fatalf("unmarshalKeyring: err = %v, want ErrCorruptKeyring", err)
			}
		})
	}
}
