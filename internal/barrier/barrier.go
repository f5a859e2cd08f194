package barrier

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// reloadTimeout bounds the keyring reload a Decrypt of a newer term makes,
// so a stalled store cannot hang a request.
const reloadTimeout = 5 * time.Second

// Barrier encrypts and decrypts record values under the keyring. It is safe
// for concurrent use; Rotate, Rekey and Reload may run while other
// goroutines encrypt and decrypt.
type Barrier struct {
	store KeyringStore
	rand  io.Reader

	// writeMu serialises keyring changes made by this process; other
	// processes are excluded by the store's compare-and-swap.
	writeMu sync.Mutex

	mu      sync.RWMutex
	sealed  bool
	root    []byte
	ring    *keyring
	aeads   map[uint32]cipher.AEAD
	version int64
}

// New opens the keyring in store with root (32 bytes, copied; the caller may
// wipe its slice afterwards). An empty store gets a fresh keyring with term 1.
// A root key that does not open the stored keyring returns ErrWrongRootKey.
func New(store KeyringStore, root []byte) (*Barrier, error) {
	return Open(context.Background(), store, root)
}

// Open is New with a context bounding the store calls made at startup.
func Open(ctx context.Context, store KeyringStore, root []byte) (*Barrier, error) {
	return newBarrier(ctx, store, root, rand.Reader)
}

func newBarrier(ctx context.Context, store KeyringStore, root []byte, rnd io.Reader) (*Barrier, error) {
	if store == nil {
		return nil, errors.New("barrier: nil keyring store")
	}
	if len(root) != KeySize {
		return nil, ErrInvalidRootKey
	}
	b := &Barrier{store: store, rand: rnd, root: append([]byte(nil), root...)}
	for range casAttempts {
		err := b.open(ctx)
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				clear(b.root)
				return nil, err
			}
			return b, nil
		}
	}
	clear(b.root)
	return nil, fmt.Errorf("barrier: create keyring: %w", ErrConflict)
}

// open loads the stored keyring, or creates and saves term 1 when none exists.
func (b *Barrier) open(ctx context.Context) error {
	blob, ver, err := b.store.LoadKeyring(ctx)
	if errors.Is(err, ErrNotFound) {
		return b.create(ctx)
	}
	if err != nil {
		return fmt.Errorf("barrier: load keyring: %w", err)
	}
	ring, err := unwrapKeyring(b.root, blob)
	if err != nil {
		return err
	}
	return b.install(ring, ver)
}

func (b *Barrier) create(ctx context.Context) error {
	ring, err := newKeyring(b.rand)
	if err != nil {
		return err
	}
	blob, err := wrapKeyring(b.root, ring, b.rand)
	if err != nil {
		ring.wipe()
		return err
	}
	if err := b.store.SaveKeyring(ctx, blob, 0); err != nil {
		ring.wipe()
		if errors.Is(err, ErrConflict) {
			return err // someone else created it: load theirs
		}
		return fmt.Errorf("barrier: save keyring: %w", err)
	}
	// The store's new version is not known here (another writer may already
	// have moved on), so mark it unknown: the next Reload reads the store.
	return b.install(ring, unknownVersion)
}

// install makes ring current. It refuses a ring that does not hold every
// term (with the same key) of the current one, so data stays readable.
func (b *Barrier) install(ring *keyring, version int64) error {
	aeads := make(map[uint32]cipher.AEAD, len(ring.keys))
	for t, key := range ring.keys {
		a, err := newAEAD(key)
		if err != nil {
			ring.wipe()
			return err
		}
		aeads[t] = a
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		ring.wipe()
		return ErrSealed
	}
	if b.ring != nil && !ring.covers(b.ring) {
		ring.wipe()
		return ErrKeyringRollback
	}
	if b.ring != nil {
		b.ring.wipe()
	}
	b.ring, b.aeads, b.version = ring, aeads, version
	return nil
}

// Encrypt seals plaintext for the record aad under the active term.
func (b *Barrier) Encrypt(aad AAD, plaintext []byte) ([]byte, error) {
	if err := aad.validate(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	if b.sealed {
		b.mu.RUnlock()
		return nil, ErrSealed
	}
	term, aead := b.ring.active, b.aeads[b.ring.active]
	b.mu.RUnlock()

	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	binary.BigEndian.PutUint32(out[:termSize], term)
	out[termSize] = formatVersion
	if _, err := io.ReadFull(b.rand, out[headerSize:]); err != nil {
		return nil, fmt.Errorf("barrier: nonce: %w", err)
	}
	return aead.Seal(out, out[headerSize:], plaintext, aad.encode(out[:headerSize])), nil
}

// Decrypt opens ct for the record aad. A ciphertext from another record, an
// altered one or one not in the v1 format fails; there is no fallback. A term
// newer than the keyring in memory triggers one Reload first, so keys added
// by another process are picked up without a restart.
func (b *Barrier) Decrypt(aad AAD, ct []byte) ([]byte, error) {
	if err := aad.validate(); err != nil {
		return nil, err
	}
	h, err := parse(ct)
	if err != nil {
		return nil, err
	}
	aead, active, err := b.aeadFor(h.term)
	if err != nil {
		return nil, err
	}
	if aead == nil && h.term > active {
		ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
		err := b.Reload(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("barrier: reload for term %d: %w", h.term, err)
		}
		if aead, active, err = b.aeadFor(h.term); err != nil {
			return nil, err
		}
	}
	if aead == nil {
		return nil, fmt.Errorf("%w: term %d (active term %d)", ErrUnknownTerm, h.term, active)
	}
	pt, err := aead.Open(nil, h.nonce, h.body, aad.encode(h.raw))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// aeadFor returns the cipher for term (nil if unknown) and the active term.
func (b *Barrier) aeadFor(term uint32) (cipher.AEAD, uint32, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return nil, 0, ErrSealed
	}
	return b.aeads[term], b.ring.active, nil
}

// EncryptText is Encrypt returning the "enc:v1:" text form for a text column.
func (b *Barrier) EncryptText(aad AAD, plaintext []byte) (string, error) {
	ct, err := b.Encrypt(aad, plaintext)
	if err != nil {
		return "", err
	}
	return FormatText(ct), nil
}

// DecryptText is Decrypt for a value in text form. A value not starting with
// "enc:v1:" is an error, never returned as plaintext.
func (b *Barrier) DecryptText(aad AAD, s string) ([]byte, error) {
	ct, err := ParseText(s)
	if err != nil {
		return nil, err
	}
	return b.Decrypt(aad, ct)
}

// Rewrap decrypts ct and encrypts it again under the active term, for the
// background job that moves old records forward before a term is retired.
func (b *Barrier) Rewrap(aad AAD, ct []byte) ([]byte, error) {
	pt, err := b.Decrypt(aad, ct)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return b.Encrypt(aad, pt)
}

// NeedsRewrap reports whether ct was sealed under a term older than the
// active one. It is false for malformed input (Decrypt reports those) and
// after Seal.
func (b *Barrier) NeedsRewrap(ct []byte) bool {
	h, err := parse(ct)
	if err != nil {
		return false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return !b.sealed && h.term < b.ring.active
}

// ActiveTerm returns the term new ciphertexts use, or 0 once sealed.
func (b *Barrier) ActiveTerm() uint32 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return 0
	}
	return b.ring.active
}

// Terms returns the terms in the keyring in ascending order (nil once sealed).
func (b *Barrier) Terms() []uint32 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return nil
	}
	return b.ring.terms()
}

// Seal zeroes the root key and every data key and drops the ciphers; every
// later operation returns ErrSealed. (The AES key schedules inside the
// dropped ciphers cannot be zeroed from Go; they become garbage.)
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		return
	}
	b.sealed = true
	clear(b.root)
	if b.ring != nil {
		b.ring.wipe()
	}
	b.aeads = nil
}
