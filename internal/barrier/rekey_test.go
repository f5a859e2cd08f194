package barrier_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

// saltStore is a MemStore that keeps a salt beside the keyring, saved
// with it by SaveKeyringSalt. A conflict on the first save lets a test
// see that a retried rekey saves the salt with the keyring that won.
type saltStore struct {
	barrier.MemStore
	mu            sync.Mutex
	salt          []byte
	conflictFirst bool
}

func (s *saltStore) SaveKeyringSalt(ctx context.Context, blob, salt []byte, expect int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflictFirst {
		s.conflictFirst = false
		return barrier.ErrConflict
	}
	if err := s.SaveKeyring(ctx, blob, expect); err != nil {
		return err
	}
	s.salt = append([]byte(nil), salt...)
	if salt == nil {
		s.salt = nil
	}
	return nil
}

var _ barrier.SaltStore = (*saltStore)(nil)

func TestRekeySaltSavesTheSaltWithTheKeyring(t *testing.T) {
	st := &saltStore{salt: []byte("old-passphrase-salt")}
	b, err := barrier.New(st, newRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	ct := mustEncrypt(t, b, credAAD, []byte("credential"))
	salt := bytes.Repeat([]byte{7}, barrier.SaltSize)
	passRoot := barrier.DerivePassphrase([]byte("correct horse battery staple"), salt)
	st.conflictFirst = true
	if err := b.RekeySalt(t.Context(), passRoot, salt); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.salt, salt) {
		t.Fatalf("stored salt %x after a rekey to a passphrase; want %x", st.salt, salt)
	}
	reopened, err := barrier.New(st, passRoot)
	if err != nil {
		t.Fatalf("open with the derived key: %v", err)
	}
	if got, err := reopened.Decrypt(credAAD, ct); err != nil || string(got) != "credential" {
		t.Fatalf("decrypt after rekey: %q, %v", got, err)
	}

	raw := newRoot(t)
	if err := b.Rekey(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if st.salt != nil {
		t.Fatalf("stored salt %x after a rekey to a raw key; want none", st.salt)
	}
	if _, err := barrier.New(st, raw); err != nil {
		t.Fatalf("open with the raw key: %v", err)
	}
}

func TestRekeySaltRefuses(t *testing.T) {
	b, _, _ := newBarrier(t) // a MemStore keeps no salt
	salt := bytes.Repeat([]byte{7}, barrier.SaltSize)
	if err := b.RekeySalt(t.Context(), newRoot(t), salt); err == nil {
		t.Fatal("rekey to a passphrase on a store that cannot keep its salt succeeded")
	}
	st := &saltStore{}
	b, err := barrier.New(st, newRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RekeySalt(t.Context(), newRoot(t), salt[:4]); !errors.Is(err, barrier.ErrNoSalt) {
		t.Fatalf("rekey with a short salt: %v; want ErrNoSalt", err)
	}
}
