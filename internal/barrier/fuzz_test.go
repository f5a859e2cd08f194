package barrier

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// parseTextCases seed FuzzParseText and are checked by TestParseText.
var parseTextCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"valid", FormatText(validCT()), true},
	{"plaintext credential", "sk-proj-abcdefghijklmnop", false},
	{"empty", "", false},
	{"prefix only", "enc:v1:", false},
	{"other version prefix", "enc:v2:" + FormatText(validCT())[7:], false},
	{"upper-case prefix", "ENC:V1:" + FormatText(validCT())[7:], false},
	{"padding", FormatText(validCT()) + "=", false},
	{"std alphabet", strings.ReplaceAll(strings.ReplaceAll(FormatText(validCT()), "-", "+"), "_", "/") + "+/", false},
	{"newline inside", FormatText(validCT())[:12] + "\n" + FormatText(validCT())[12:], false},
	{"space after", FormatText(validCT()) + " ", false},
	{"too short", FormatText(validCT()[:Overhead-1]), false},
	{"version byte 2", FormatText(withByte(validCT(), 4, 2)), false},
	{"term zero", FormatText(withByte(validCT(), 3, 0)), false},
}

// validCT is a structurally valid ciphertext (term 1, version 1).
func validCT() []byte {
	ct := make([]byte, Overhead+8)
	binary.BigEndian.PutUint32(ct, 1)
	ct[4] = formatVersion
	for i := headerSize; i < len(ct); i++ {
		ct[i] = byte(i * 7)
	}
	return ct
}

func withByte(b []byte, i int, v byte) []byte { b[i] = v; return b }

func TestParseText(t *testing.T) {
	for _, tt := range parseTextCases {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := ParseText(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseText: err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) || ct != nil {
					t.Fatalf("ParseText error %v is not ErrMalformed", err)
				}
				if len(tt.in) > 8 && strings.Contains(err.Error(), tt.in[len(tt.in)/2:]) {
					t.Fatalf("error %q echoes the input", err)
				}
			}
		})
	}
}

func FuzzParseText(f *testing.F) {
	for _, tt := range parseTextCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ct, err := ParseText(s)
		if err != nil {
			return
		}
		if FormatText(ct) != s {
			t.Fatalf("ParseText accepted a non-canonical form %q", s)
		}
		if _, err := parse(ct); err != nil {
			t.Fatalf("ParseText returned a ciphertext parse refuses: %v", err)
		}
	})
}

// FuzzDecrypt checks that no input but the exact ciphertext, in its own
// record, ever decrypts — and that nothing panics. raw is tried as is; mask
// is XORed over a fresh valid ciphertext (extra mask bytes are appended), cut
// bytes are then removed from its end; field replaces the record's field.
func FuzzDecrypt(f *testing.F) {
	f.Add([]byte(nil), []byte(nil), "api_key", uint16(0))
	f.Add(validCT(), []byte{0x01}, "api_key", uint16(0))
	f.Add([]byte("enc:v1:AAAA"), []byte{0, 0, 0, 0, 0x80}, "api_key", uint16(0))
	f.Add(validCT()[:Overhead], make([]byte, 17), "api_ke", uint16(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte{0, 0, 0, 1}, "api_key\x00", uint16(16))
	for i := range Overhead + 4 {
		mask := make([]byte, i+1)
		mask[i] = 0x40
		f.Add([]byte(nil), mask, "api_key", uint16(0))
	}
	b, err := New(&MemStore{}, bytes.Repeat([]byte{0x42}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	aad := AAD{Table: "providers", ID: "prov_1", Field: "api_key"}
	pt := []byte("sk-test-credential")
	ct, err := b.Encrypt(aad, pt)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, mask []byte, field string, cut uint16) {
		if got, err := b.Decrypt(aad, raw); err == nil && !bytes.Equal(raw, ct) {
			t.Fatalf("arbitrary input decrypted to %q", got)
		}
		mut := bytes.Clone(ct)
		for i, m := range mask {
			if i < len(mut) {
				mut[i] ^= m
			} else {
				mut = append(mut, m)
			}
		}
		mut = mut[:len(mut)-min(int(cut), len(mut))]
		got, err := b.Decrypt(aad, mut)
		if same := bytes.Equal(mut, ct); same != (err == nil) || same && !bytes.Equal(got, pt) {
			t.Fatalf("mutated ciphertext (same=%v): %q, %v", same, got, err)
		}
		other := aad
		other.Field = field
		if _, err := b.Decrypt(other, ct); (field == aad.Field) != (err == nil) {
			t.Fatalf("Decrypt with field %q: %v", field, err)
		}
	})
}

// FuzzUnmarshalKeyring: the keyring parser never panics and only accepts
// what it would write itself.
func FuzzUnmarshalKeyring(f *testing.F) {
	ring, _ := newKeyring(bytes.NewReader(bytes.Repeat([]byte{3}, 2*KeySize)))
	ring2, _ := ring.withNewTerm(bytes.NewReader(bytes.Repeat([]byte{4}, KeySize)))
	f.Add(ring.marshal())
	f.Add(ring2.marshal())
	f.Add([]byte("BWKR\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		k, err := unmarshalKeyring(blob)
		if err != nil {
			return
		}
		if !bytes.Equal(k.marshal(), blob) {
			t.Fatal("accepted a keyring that does not re-encode identically")
		}
	})
}

// FuzzCheckStrength: never panics, and never accepts a value under 16 bytes.
func FuzzCheckStrength(f *testing.F) {
	for _, s := range []string{"", "changeme", "correct horse battery staple", "P@ssw0rd12345678", strings.Repeat("ab", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckStrength(s) == nil && len(s) < MinPassphraseLen {
			t.Fatalf("accepted a %d-byte key", len(s))
		}
	})
}
