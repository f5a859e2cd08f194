package barrier_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

var weakKeys = []struct{ name, key string }{
	{"empty", ""},
	{"changeme", "changeme"},
	{"secret", "secret"},
	{"password", "password"},
	{"admin", "admin"},
	{"test", "test"},
	{"digits 12345678", "12345678"},
	{"digits 16", "1234567890123456"},
	{"all same char", strings.Repeat("a", 32)},
	{"all same char long", strings.Repeat("x", 64)},
	{"changeme twice", "changemechangeme"},
	{"password twice", "passwordpassword"},
	{"leet password digits", "P@ssw0rd12345678"},
	{"admin repeated", "adminadminadmin1"},
	{"keyboard row", "qwertyuiopasdfgh"},
	{"alphabet", "abcdefghijklmnop"},
	{"common words", "mysecretpassword2024"},
	{"product name", "Bulwark-Master-Key-2024"},
	{"test repeated", "testtesttesttest"},
	{"pattern repeated", "ab12cd34ab12cd34"},
	{"hex zeros", strings.Repeat("00", 32)},
	{"hex pattern", strings.Repeat("0123456789abcdef", 4)},
	{"hex 16 bytes", "3f9a1c7e5b2d4f8a6c0e9b1d3a5f7c2e"},
	{"hex sequence", seqHex()},
	{"base64 of text", base64.StdEncoding.EncodeToString([]byte("this is my very secret key 12345"))},
	{"base64 zeros", base64.StdEncoding.EncodeToString(make([]byte, 32))},
}

func seqHex() string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i * 3)
	}
	return hex.EncodeToString(b)
}

var strongKeys = []struct{ name, key string }{
	{"passphrase words", "correct horse battery staple"},
	{"passphrase mixed", "vivid otter gravel spoon 93"},
	{"passphrase symbols", "Tr0ub4dor&3 plus xylophone"},
}

func TestCheckStrength(t *testing.T) {
	for _, tt := range weakKeys {
		t.Run("weak/"+tt.name, func(t *testing.T) {
			err := barrier.CheckStrength(tt.key)
			if !errors.Is(err, barrier.ErrWeakKey) {
				t.Fatalf("CheckStrength accepted a weak key: err = %v", err)
			}
			if len(tt.key) >= 4 && strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %q quotes the key", err)
			}
		})
	}
	for _, tt := range strongKeys {
		t.Run("strong/"+tt.name, func(t *testing.T) {
			if err := barrier.CheckStrength(tt.key); err != nil {
				t.Fatalf("CheckStrength refused a strong passphrase: %v", err)
			}
		})
	}
}

// Random keys must never be refused: a false refusal would stop a
// production server that did everything right.
func TestCheckStrengthAcceptsRandomKeys(t *testing.T) {
	encs := []struct {
		name string
		enc  func([]byte) string
	}{
		{"hex", hex.EncodeToString},
		{"base64", base64.StdEncoding.EncodeToString},
		{"base64url", base64.RawURLEncoding.EncodeToString},
	}
	for _, e := range encs {
		t.Run(e.name, func(t *testing.T) {
			for range 500 {
				k := make([]byte, 32)
				_, _ = rand.Read(k)
				if err := barrier.CheckStrength(e.enc(k)); err != nil {
					t.Fatalf("random key refused: %v", err)
				}
			}
		})
	}
}
