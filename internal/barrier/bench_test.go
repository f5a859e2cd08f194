package barrier_test

import (
	"bytes"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

var credential64 = bytes.Repeat([]byte("k"), 64)

func BenchmarkEncrypt(b *testing.B) {
	br, _, _ := newBarrier(b)
	b.SetBytes(int64(len(credential64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Encrypt(credAAD, credential64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	br, _, _ := newBarrier(b)
	ct := mustEncrypt(b, br, credAAD, credential64)
	b.SetBytes(int64(len(credential64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Decrypt(credAAD, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptText(b *testing.B) {
	br, _, _ := newBarrier(b)
	s, err := br.EncryptText(credAAD, credential64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.DecryptText(credAAD, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDerivePassphrase(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, barrier.SaltSize)
	for b.Loop() {
		barrier.DerivePassphrase([]byte("vivid otter gravel spoon 93"), salt)
	}
}
