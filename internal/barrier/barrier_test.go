package barrier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

var credAAD = barrier.AAD{Table: "providers", ID: "prov_1", Field: "api_key"}

func newRoot(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, barrier.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newBarrier(t testing.TB) (*barrier.Barrier, *barrier.MemStore, []byte) {
	t.Helper()
	store := &barrier.MemStore{}
	root := newRoot(t)
	b, err := barrier.New(store, root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, store, root
}

func mustEncrypt(t testing.TB, b *barrier.Barrier, aad barrier.AAD, pt []byte) []byte {
	t.Helper()
	ct, err := b.Encrypt(aad, pt)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

func TestRoundTrip(t *testing.T) {
	b, _, _ := newBarrier(t)
	tests := []struct {
		name string
		pt   []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"credential", []byte("sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU")},
		{"binary 4KiB", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := mustEncrypt(t, b, credAAD, tt.pt)
			if len(ct) != len(tt.pt)+barrier.Overhead {
				t.Fatalf("len(ct) = %d, want %d", len(ct), len(tt.pt)+barrier.Overhead)
			}
			if term, ver := binary.BigEndian.Uint32(ct), ct[4]; term != 1 || ver != 1 {
				t.Fatalf("header term=%d version=%d, want 1 and 1", term, ver)
			}
			if len(tt.pt) >= 8 && bytes.Contains(ct, tt.pt[:8]) {
				t.Fatal("ciphertext contains plaintext")
			}
			got, err := b.Decrypt(credAAD, ct)
			if err != nil || !bytes.Equal(got, tt.pt) {
				t.Fatalf("Decrypt = %q, %v; want %q", got, err, tt.pt)
			}
			again := mustEncrypt(t, b, credAAD, tt.pt)
			if bytes.Equal(again, ct) {
				t.Fatal("two encryptions of the same value are identical (nonce reuse)")
			}
			s, err := b.EncryptText(credAAD, tt.pt)
			if err != nil || !strings.HasPrefix(s, "enc:v1:") || strings.ContainsAny(s[7:], "+/=:") {
				t.Fatalf("EncryptText = %q, %v; want enc:v1: + unpadded base64url", s, err)
			}
			if got, err := b.DecryptText(credAAD, s); err != nil || !bytes.Equal(got, tt.pt) {
				t.Fatalf("DecryptText = %q, %v", got, err)
			}
		})
	}
}

func TestMovedCiphertextFails(t *testing.T) {
	b, _, _ := newBarrier(t)
	src := barrier.AAD{Table: "providers", ID: "ab", Field: "c"}
	ct := mustEncrypt(t, b, src, []byte("tenant-a-secret"))
	tests := []struct {
		name string
		aad  barrier.AAD
	}{
		{"other row", barrier.AAD{Table: "providers", ID: "ac", Field: "c"}},
		{"other field", barrier.AAD{Table: "providers", ID: "ab", Field: "d"}},
		{"other table", barrier.AAD{Table: "tenants", ID: "ab", Field: "c"}},
		{"id/field boundary shifted", barrier.AAD{Table: "providers", ID: "a", Field: "bc"}},
		{"table/id boundary shifted", barrier.AAD{Table: "providersa", ID: "b", Field: "c"}},
		{"case differs", barrier.AAD{Table: "Providers", ID: "ab", Field: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := b.Decrypt(tt.aad, ct)
			if !errors.Is(err, barrier.ErrAuth) || pt != nil {
				t.Fatalf("Decrypt in another record = %q, %v; want ErrAuth", pt, err)
			}
		})
	}
	if _, err := b.Decrypt(src, ct); err != nil {
		t.Fatalf("Decrypt in its own record: %v", err)
	}
}

func TestInvalidAADRefused(t *testing.T) {
	b, _, _ := newBarrier(t)
	ct := mustEncrypt(t, b, credAAD, []byte("x"))
	for _, aad := range []barrier.AAD{{ID: "1", Field: "f"}, {Table: "t", Field: "f"}, {Table: "t", ID: "1"}} {
		t.Run(aad.Table+"/"+aad.ID+"/"+aad.Field, func(t *testing.T) {
			if _, err := b.Encrypt(aad, []byte("x")); !errors.Is(err, barrier.ErrInvalidAAD) {
				t.Fatalf("Encrypt: err = %v, want ErrInvalidAAD", err)
			}
			if _, err := b.Decrypt(aad, ct); !errors.Is(err, barrier.ErrInvalidAAD) {
				t.Fatalf("Decrypt: err = %v, want ErrInvalidAAD", err)
			}
		})
	}
}

func TestEveryFlippedByteFails(t *testing.T) {
	b, _, _ := newBarrier(t)
	pt := bytes.Repeat([]byte("k"), 64)
	ct := mustEncrypt(t, b, credAAD, pt)
	for _, mask := range []byte{0x01, 0x80, 0xff} {
		for i := range ct {
			bad := bytes.Clone(ct)
			bad[i] ^= mask
			if got, err := b.Decrypt(credAAD, bad); err == nil || got != nil {
				t.Fatalf("byte %d ^ %#x: Decrypt succeeded", i, mask)
			}
		}
	}
	text := barrier.FormatText(ct)
	for i := range text {
		for _, c := range []byte{'A', '-', '_', 'z'} {
			if text[i] == c {
				continue
			}
			bad := text[:i] + string(c) + text[i+1:]
			if got, err := b.DecryptText(credAAD, bad); err == nil || got != nil {
				t.Fatalf("text char %d -> %q: DecryptText succeeded", i, c)
			}
		}
	}
}

func TestTruncatedOrExtendedFails(t *testing.T) {
	b, _, _ := newBarrier(t)
	ct := mustEncrypt(t, b, credAAD, []byte("credential"))
	for n := range len(ct) {
		if _, err := b.Decrypt(credAAD, ct[:n]); err == nil {
			t.Fatalf("Decrypt of the first %d of %d bytes succeeded", n, len(ct))
		}
	}
	if _, err := b.Decrypt(credAAD, append(bytes.Clone(ct), 0)); !errors.Is(err, barrier.ErrAuth) {
		t.Fatalf("Decrypt with a byte appended: err = %v, want ErrAuth", err)
	}
}

func TestUnknownTermFails(t *testing.T) {
	b, _, _ := newBarrier(t)
	ct := mustEncrypt(t, b, credAAD, []byte("credential"))
	binary.BigEndian.PutUint32(ct, 99)
	_, err := b.Decrypt(credAAD, ct)
	if !errors.Is(err, barrier.ErrUnknownTerm) || !strings.Contains(err.Error(), "term 99") {
		t.Fatalf("Decrypt with term 99: err = %v, want ErrUnknownTerm naming term 99", err)
	}
}

func TestRotate(t *testing.T) {
	b, _, _ := newBarrier(t)
	old := mustEncrypt(t, b, credAAD, []byte("old"))
	term, err := b.Rotate(t.Context())
	if err != nil || term != 2 || b.ActiveTerm() != 2 {
		t.Fatalf("Rotate = %d, %v; ActiveTerm %d; want 2", term, err, b.ActiveTerm())
	}
	fresh := mustEncrypt(t, b, credAAD, []byte("new"))
	if got := binary.BigEndian.Uint32(fresh); got != 2 {
		t.Fatalf("new ciphertext uses term %d, want 2", got)
	}
	if got, err := b.Decrypt(credAAD, old); err != nil || string(got) != "old" {
		t.Fatalf("old ciphertext after rotate: %q, %v", got, err)
	}
	if !b.NeedsRewrap(old) || b.NeedsRewrap(fresh) {
		t.Fatalf("NeedsRewrap(old)=%v NeedsRewrap(new)=%v; want true, false", b.NeedsRewrap(old), b.NeedsRewrap(fresh))
	}
	moved, err := b.Rewrap(credAAD, old)
	if err != nil || b.NeedsRewrap(moved) {
		t.Fatalf("Rewrap: %v (still needs rewrap: %v)", err, b.NeedsRewrap(moved))
	}
	if got, err := b.Decrypt(credAAD, moved); err != nil || string(got) != "old" {
		t.Fatalf("rewrapped ciphertext: %q, %v", got, err)
	}
	if _, err := b.Rewrap(barrier.AAD{Table: "x", ID: "y", Field: "z"}, old); !errors.Is(err, barrier.ErrAuth) {
		t.Fatalf("Rewrap into another record: err = %v, want ErrAuth", err)
	}
}

func TestRekey(t *testing.T) {
	b, store, oldRoot := newBarrier(t)
	ct := mustEncrypt(t, b, credAAD, []byte("credential"))
	before, _, _ := store.LoadKeyring(t.Context())
	newRootKey := newRoot(t)
	if err := b.Rekey(t.Context(), newRootKey); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	after, _, _ := store.LoadKeyring(t.Context())
	if bytes.Equal(before, after) {
		t.Fatal("stored keyring unchanged by Rekey")
	}
	if _, err := barrier.New(store, oldRoot); !errors.Is(err, barrier.ErrWrongRootKey) {
		t.Fatalf("New with the old root after rekey: err = %v, want ErrWrongRootKey", err)
	}
	reopened, err := barrier.New(store, newRootKey)
	if err != nil {
		t.Fatalf("New with the new root: %v", err)
	}
	if got, err := reopened.Decrypt(credAAD, ct); err != nil || string(got) != "credential" {
		t.Fatalf("data written before rekey, read with the new root: %q, %v", got, err)
	}
	if reopened.ActiveTerm() != 1 {
		t.Fatalf("rekey changed the active term to %d", reopened.ActiveTerm())
	}
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatalf("Rotate after Rekey on the same Barrier (must use the new root): %v", err)
	}
	if err := b.Rekey(t.Context(), []byte("short")); !errors.Is(err, barrier.ErrInvalidRootKey) {
		t.Fatalf("Rekey with a short key: err = %v, want ErrInvalidRootKey", err)
	}
}

func TestNewRootKeyChecks(t *testing.T) {
	store := &barrier.MemStore{}
	if _, err := barrier.New(store, newRoot(t)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		root []byte
		want error
	}{
		{"wrong root", newRoot(t), barrier.ErrWrongRootKey},
		{"31 bytes", make([]byte, 31), barrier.ErrInvalidRootKey},
		{"nil", nil, barrier.ErrInvalidRootKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := barrier.New(store, tt.root)
			if !errors.Is(err, tt.want) || b != nil {
				t.Fatalf("New = %v, %v; want %v", b, err, tt.want)
			}
		})
	}
	_, err := barrier.New(store, newRoot(t))
	if msg := err.Error(); !strings.Contains(msg, "BULWARK_MASTER_KEY") {
		t.Fatalf("wrong-root error %q does not tell the operator what to check", msg)
	}
}

func TestCorruptKeyringRefused(t *testing.T) {
	store := &barrier.MemStore{}
	if err := store.SaveKeyring(t.Context(), []byte{1, 2, 3}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := barrier.New(store, newRoot(t)); !errors.Is(err, barrier.ErrCorruptKeyring) {
		t.Fatalf("New over a 3-byte keyring: err = %v, want ErrCorruptKeyring", err)
	}
}

func TestReloadPicksUpOtherProcessRotation(t *testing.T) {
	serve, store, root := newBarrier(t)
	cli, err := barrier.New(store, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if serve.ActiveTerm() != 1 {
		t.Fatalf("serve saw term %d before reloading", serve.ActiveTerm())
	}
	ct := mustEncrypt(t, cli, credAAD, []byte("written by cli"))
	if got, err := serve.Decrypt(credAAD, ct); err != nil || string(got) != "written by cli" {
		t.Fatalf("serve Decrypt of a term it has not loaded (must reload once): %q, %v", got, err)
	}
	if serve.ActiveTerm() != 2 {
		t.Fatalf("serve ActiveTerm after auto-reload = %d, want 2", serve.ActiveTerm())
	}
	if _, err := cli.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := serve.Reload(t.Context()); err != nil || serve.ActiveTerm() != 3 {
		t.Fatalf("Reload: %v, ActiveTerm %d; want 3", err, serve.ActiveTerm())
	}
}

func TestReloadRefusesRollback(t *testing.T) {
	b, store, _ := newBarrier(t)
	oldBlob, _, _ := store.LoadKeyring(t.Context())
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ct := mustEncrypt(t, b, credAAD, []byte("under term 2"))
	_, ver, _ := store.LoadKeyring(t.Context())
	if err := store.SaveKeyring(t.Context(), oldBlob, ver); err != nil { // replay of a genuine old keyring
		t.Fatal(err)
	}
	if err := b.Reload(t.Context()); !errors.Is(err, barrier.ErrKeyringRollback) {
		t.Fatalf("Reload of a keyring missing term 2: err = %v, want ErrKeyringRollback", err)
	}
	if got, err := b.Decrypt(credAAD, ct); err != nil || string(got) != "under term 2" {
		t.Fatalf("after a refused rollback, term 2 must still decrypt: %q, %v", got, err)
	}
}

func TestSeal(t *testing.T) {
	b, _, _ := newBarrier(t)
	ct := mustEncrypt(t, b, credAAD, []byte("x"))
	text := barrier.FormatText(ct)
	b.Seal()
	b.Seal() // idempotent
	ops := []struct {
		name string
		run  func() error
	}{
		{"Encrypt", func() error { _, err := b.Encrypt(credAAD, []byte("x")); return err }},
		{"Decrypt", func() error { _, err := b.Decrypt(credAAD, ct); return err }},
		{"EncryptText", func() error { _, err := b.EncryptText(credAAD, []byte("x")); return err }},
		{"DecryptText", func() error { _, err := b.DecryptText(credAAD, text); return err }},
		{"Rewrap", func() error { _, err := b.Rewrap(credAAD, ct); return err }},
		{"Rotate", func() error { _, err := b.Rotate(t.Context()); return err }},
		{"Rekey", func() error { return b.Rekey(t.Context(), newRoot(t)) }},
		{"Reload", func() error { return b.Reload(t.Context()) }},
		{"Watch", func() error { return b.Watch(t.Context(), 1) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if err := op.run(); !errors.Is(err, barrier.ErrSealed) {
				t.Fatalf("%s after Seal: err = %v, want ErrSealed", op.name, err)
			}
		})
	}
	if b.ActiveTerm() != 0 || b.NeedsRewrap(ct) || b.Terms() != nil {
		t.Fatal("sealed barrier still reports keyring state")
	}
}

func TestConcurrentUseDuringRotate(t *testing.T) {
	b, _, _ := newBarrier(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			aad := barrier.AAD{Table: "providers", ID: string(rune('a' + g)), Field: "api_key"}
			for range 200 {
				ct, err := b.Encrypt(aad, []byte("value"))
				if err != nil {
					t.Errorf("Encrypt: %v", err)
					return
				}
				if got, err := b.Decrypt(aad, ct); err != nil || string(got) != "value" {
					t.Errorf("Decrypt during rotation: %q, %v", got, err)
					return
				}
			}
		})
	}
	for range 5 {
		if _, err := b.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if b.ActiveTerm() != 6 {
		t.Fatalf("ActiveTerm = %d, want 6", b.ActiveTerm())
	}
}

// hookStore runs once, between the next LoadKeyring and the save that
// depends on it, to force a compare-and-swap conflict.
type hookStore struct {
	barrier.KeyringStore
	once func()
}

// LoadKeyring loads, then runs the pending hook once.
func (s *hookStore) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	blob, ver, err := s.KeyringStore.LoadKeyring(ctx)
	if f := s.once; f != nil {
		s.once = nil
		f()
	}
	return blob, ver, err
}

func TestRekeyRacingRotateKeepsTerm(t *testing.T) {
	mem := &barrier.MemStore{}
	root := newRoot(t)
	hooked := &hookStore{KeyringStore: mem}
	admin, err := barrier.New(hooked, root)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := barrier.New(mem, root)
	if err != nil {
		t.Fatal(err)
	}
	var ct []byte
	hooked.once = func() {
		if _, err := cli.Rotate(t.Context()); err != nil {
			t.Errorf("interleaved Rotate: %v", err)
		}
		ct = mustEncrypt(t, cli, credAAD, []byte("term 2 data"))
	}
	newRootKey := newRoot(t)
	if err := admin.Rekey(t.Context(), newRootKey); err != nil {
		t.Fatalf("Rekey racing a Rotate: %v", err)
	}
	reopened, err := barrier.New(mem, newRootKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reopened.Decrypt(credAAD, ct); err != nil || string(got) != "term 2 data" {
		t.Fatalf("term added during the rekey was lost: %q, %v", got, err)
	}
}
