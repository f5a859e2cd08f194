package barrier

import (
	"context"
	"sync"
)

// KeyringStore persists the wrapped keyring (one opaque blob) with a version
// for compare-and-swap. Implementations must be safe for concurrent use and,
// for a shared database, across processes. barriertest.RunKeyringStore is the
// conformance suite every implementation must pass.
type KeyringStore interface {
	// LoadKeyring returns the blob and its version, or ErrNotFound when no
	// keyring has been saved yet.
	LoadKeyring(ctx context.Context) (blob []byte, version int64, err error)
	// SaveKeyring stores blob if the current version is expectVersion (0 when
	// no keyring exists yet) and returns ErrConflict otherwise. A successful
	// save changes the version.
	SaveKeyring(ctx context.Context, blob []byte, expectVersion int64) error
}

// KeyringVersioner is an optional KeyringStore capability: a cheap read of
// the current version (0 when empty) that Watch polls instead of loading the
// whole blob.
type KeyringVersioner interface {
	KeyringVersion(ctx context.Context) (int64, error)
}

// SaltStore is an optional KeyringStore capability for stores that keep
// a passphrase root key's salt beside the keyring: Rekey saves through it
// so the keyring and the salt of the key wrapping it change together.
type SaltStore interface {
	// SaveKeyringSalt is SaveKeyring that, atomically with it, replaces
	// the stored salt with salt, or removes it when salt is nil.
	// ErrConflict changes neither.
	SaveKeyringSalt(ctx context.Context, blob, salt []byte, expectVersion int64) error
}

// MemStore is an in-memory KeyringStore for tests and ephemeral use. The zero
// value is empty and ready. It is safe for concurrent use.
type MemStore struct {
	mu      sync.Mutex
	blob    []byte
	version int64
}

var (
	_ KeyringStore     = (*MemStore)(nil)
	_ KeyringVersioner = (*MemStore)(nil)
)

// LoadKeyring implements KeyringStore.
func (m *MemStore) LoadKeyring(ctx context.Context) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == 0 {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), m.blob...), m.version, nil
}

// SaveKeyring implements KeyringStore.
func (m *MemStore) SaveKeyring(ctx context.Context, blob []byte, expectVersion int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version != expectVersion {
		return ErrConflict
	}
	m.blob = append([]byte(nil), blob...)
	m.version++
	return nil
}

// KeyringVersion implements KeyringVersioner.
func (m *MemStore) KeyringVersion(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, nil
}
