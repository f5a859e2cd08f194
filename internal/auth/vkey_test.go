package auth

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestNewKeyRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		full, p, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseKey(full)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", full, err)
		}
		if got != p {
			t.Fatalf("parsed %+v, want %+v", got, p)
		}
		if seen[p.ID] || seen[p.Secret] {
			t.Fatal("duplicate id or secret")
		}
		seen[p.ID], seen[p.Secret] = true, true
	}
}

func TestKeyHasAtLeast256BitsOfRandomness(t *testing.T) {
	if bits := float64(secretLen) * math.Log2(62); bits < 256 {
		t.Fatalf("secret carries %.1f bits, want ≥ 256", bits)
	}
}

func TestParseKeyRejects(t *testing.T) {
	full, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := []byte(full)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformedKey},
		{"openai key", "sk-proj-" + strings.Repeat("a", 60), ErrMalformedKey},
		{"short", full[:len(full)-1], ErrMalformedKey},
		{"long", full + "a", ErrMalformedKey},
		{"wrong prefix", "sk-bx-" + full[6:], ErrMalformedKey},
		{"missing separator", full[:22] + "x" + full[23:], ErrMalformedKey},
		{"non base62", full[:30] + "_" + full[31:], ErrMalformedKey},
		{"typo in id", flip(8), ErrChecksum},
		{"typo in secret", flip(40), ErrChecksum},
		{"typo in checksum", flip(len(full) - 1), ErrChecksum},
		{"whitespace", " " + full[1:], ErrMalformedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseKey = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.in) && tt.in != "" {
				t.Fatal("error echoes the presented key")
			}
		})
	}
}

func TestHashSecretIsKeyed(t *testing.T) {
	_, p, _ := NewKey()
	a := HashSecret([]byte(strings.Repeat("k", 32)), p)
	b := HashSecret([]byte(strings.Repeat("j", 32)), p)
	if string(a) == string(b) {
		t.Fatal("hash does not depend on the server key")
	}
	if strings.Contains(string(a), p.Secret) {
		t.Fatal("hash contains the secret")
	}
}

func FuzzParseKey(f *testing.F) {
	full, _, _ := NewKey()
	for _, s := range []string{full, "", "sk-bw-", "sk-bw-AAAAAAAAAAAAAAAA-", full[:len(full)-1] + "x", strings.Repeat("sk-bw-", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseKey(s)
		if err != nil {
			return
		}
		// Anything accepted must have the exact shape and round-trip.
		if len(s) != keyLen || !strings.HasPrefix(s, KeyPrefix) || len(p.ID) != idLen || len(p.Secret) != secretLen {
			t.Fatalf("accepted malformed key %q", s)
		}
		body := KeyPrefix + p.ID + "-" + p.Secret
		if body+checksum(body) != s {
			t.Fatalf("accepted key %q does not round-trip", s)
		}
	})
}

// A verification leaves no part of the presented key in the pooled MAC's
// input buffer: the pool keeps the buffer for the next request, and a
// secret should not wait there (or in a core dump) until it is reused.
func TestVerifyClearsPooledInput(t *testing.T) {
	k := &Keys{hashKey: []byte(strings.Repeat("h", 32))}
	_, p, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	stored := HashSecret(k.hashKey, p)
	seen := 0
	for range 100 { // the race detector's pool drops some puts
		if !k.verify(p, stored) {
			t.Fatal("the right key did not verify")
		}
		if k.verify(ParsedKey{ID: p.ID, Secret: strings.Repeat("x", len(p.Secret))}, stored) {
			t.Fatal("a wrong secret verified")
		}
		m, _ := k.macs.Get().(*pooledMAC)
		if m == nil {
			continue
		}
		seen++
		if m.in != ([len(m.in)]byte{}) {
			t.Fatalf("pooled input holds %q", m.in[:])
		}
		k.macs.Put(m)
	}
	if seen == 0 {
		t.Fatal("no pooled MAC was ever observed")
	}
}
