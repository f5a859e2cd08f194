package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
)

const (
	// KeySize is the size of the root key and of every data key (AES-256).
	KeySize = 32
	// keyringAAD binds the wrapped keyring to its purpose, so a wrapped
	// keyring can never be passed off as a record ciphertext or vice versa.
	keyringAAD     = "bulwark/keyring/v1"
	keyringMagic   = "BWKR"
	keyringVersion = 1
	entrySize      = termSize + KeySize
	// maxTerms bounds what unmarshal accepts, so a hostile blob cannot make
	// us allocate without limit.
	maxTerms = 1 << 20
)

// keyring holds the data keys by term. A keyring is never mutated after it is
// built (withNewTerm returns a copy), except by wipe when it is retired.
type keyring struct {
	keys   map[uint32][]byte
	active uint32
}

// newKeyring returns a keyring with term 1 only.
func newKeyring(rnd io.Reader) (*keyring, error) {
	k := &keyring{keys: map[uint32][]byte{}}
	return k.withNewTerm(rnd)
}

// withNewTerm returns a deep copy of k with term active+1 added.
func (k *keyring) withNewTerm(rnd io.Reader) (*keyring, error) {
	if k.active == math.MaxUint32 || len(k.keys) >= maxTerms {
		// Past maxTerms the keyring could be written but never read back.
		return nil, fmt.Errorf("barrier: term space exhausted")
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("barrier: generate data key: %w", err)
	}
	n := k.clone()
	n.active = k.active + 1
	n.keys[n.active] = key
	return n, nil
}

func (k *keyring) clone() *keyring {
	n := &keyring{keys: make(map[uint32][]byte, len(k.keys)+1), active: k.active}
	for t, key := range k.keys {
		n.keys[t] = append([]byte(nil), key...)
	}
	return n
}

// wipe zeroes every data key.
func (k *keyring) wipe() {
	for _, key := range k.keys {
		clear(key)
	}
}

// covers reports whether k holds every term of old with the same key.
func (k *keyring) covers(old *keyring) bool {
	for t, key := range old.keys {
		nk, ok := k.keys[t]
		if !ok || subtle.ConstantTimeCompare(nk, key) != 1 {
			return false
		}
	}
	return true
}

func (k *keyring) terms() []uint32 {
	ts := make([]uint32, 0, len(k.keys))
	for t := range k.keys {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// marshal encodes k as magic | version | count | (term | key)* in ascending
// term order. The caller wipes the result.
func (k *keyring) marshal() []byte {
	ts := k.terms()
	b := make([]byte, 0, len(keyringMagic)+1+4+len(ts)*entrySize)
	b = append(b, keyringMagic...)
	b = append(b, keyringVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ts))) //nolint:gosec // G115: withNewTerm and unmarshal keep the count <= maxTerms
	for _, t := range ts {
		b = binary.BigEndian.AppendUint32(b, t)
		b = append(b, k.keys[t]...)
	}
	return b
}

// unmarshalKeyring is strict: terms ascend, none is zero, lengths are exact.
func unmarshalKeyring(b []byte) (*keyring, error) {
	hdr := len(keyringMagic) + 1 + 4
	if len(b) < hdr || string(b[:len(keyringMagic)]) != keyringMagic || b[len(keyringMagic)] != keyringVersion {
		return nil, fmt.Errorf("%w: bad header", ErrCorruptKeyring)
	}
	n := binary.BigEndian.Uint32(b[len(keyringMagic)+1 : hdr])
	if n == 0 || n > maxTerms {
		return nil, fmt.Errorf("%w: bad length", ErrCorruptKeyring)
	}
	if len(b)-hdr != int(n)*entrySize {
		return nil, fmt.Errorf("%w: bad length", ErrCorruptKeyring)
	}
	k := &keyring{keys: make(map[uint32][]byte, n)}
	for p := hdr; p < len(b); p += entrySize {
		t := binary.BigEndian.Uint32(b[p:])
		if t <= k.active {
			return nil, fmt.Errorf("%w: terms not ascending", ErrCorruptKeyring)
		}
		k.keys[t] = append([]byte(nil), b[p+termSize:p+entrySize]...)
		k.active = t
	}
	return k, nil
}

// wrapKeyring seals k under root: version | nonce | AES-GCM(keyring).
func wrapKeyring(root []byte, k *keyring, rnd io.Reader) ([]byte, error) {
	aead, err := newAEAD(root)
	if err != nil {
		return nil, err
	}
	plain := k.marshal()
	defer clear(plain)
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+tagSize)
	out[0] = keyringVersion
	if _, err := io.ReadFull(rnd, out[1:]); err != nil {
		return nil, fmt.Errorf("barrier: keyring nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plain, []byte(keyringAAD)), nil
}

// unwrapKeyring opens a wrapped keyring. A GCM failure means a wrong root
// key (or an altered blob): ErrWrongRootKey.
func unwrapKeyring(root, blob []byte) (*keyring, error) {
	aead, err := newAEAD(root)
	if err != nil {
		return nil, err
	}
	if len(blob) < 1+nonceSize+tagSize || blob[0] != keyringVersion {
		return nil, fmt.Errorf("%w: bad wrapping", ErrCorruptKeyring)
	}
	plain, err := aead.Open(nil, blob[1:1+nonceSize], blob[1+nonceSize:], []byte(keyringAAD))
	if err != nil {
		return nil, ErrWrongRootKey
	}
	defer clear(plain)
	return unmarshalKeyring(plain)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrInvalidRootKey
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: aes: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("barrier: gcm: %w", err)
	}
	return aead, nil
}
