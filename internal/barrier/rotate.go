package barrier

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// casAttempts bounds the load-modify-save retries of a keyring change. Every
// failed attempt means another writer succeeded, so the system as a whole
// always makes progress.
const casAttempts = 64

// unknownVersion marks the in-memory keyring as possibly older than the
// store's, so the next Reload reads it again.
const unknownVersion = -1

// rootCopy returns a copy of the root key; the caller wipes it.
func (b *Barrier) rootCopy() ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.sealed {
		return nil, ErrSealed
	}
	return append([]byte(nil), b.root...), nil
}

// loadRing reads and unwraps the stored keyring under root.
func (b *Barrier) loadRing(ctx context.Context, root []byte) (*keyring, int64, error) {
	blob, ver, err := b.store.LoadKeyring(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("barrier: load keyring: %w", err)
	}
	ring, err := unwrapKeyring(root, blob)
	if err != nil {
		return nil, 0, err
	}
	return ring, ver, nil
}

// Rotate adds term N+1 to the stored keyring and makes it active for new
// writes; ciphertexts under older terms still decrypt. Concurrent rotations,
// in this process or another on the same store, each add their own term.
func (b *Barrier) Rotate(ctx context.Context) (uint32, error) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	root, err := b.rootCopy()
	if err != nil {
		return 0, err
	}
	defer clear(root)
	for range casAttempts {
		cur, ver, err := b.loadRing(ctx, root)
		if err != nil {
			return 0, err
		}
		next, err := cur.withNewTerm(b.rand)
		cur.wipe()
		if err != nil {
			return 0, err
		}
		term, err := b.commit(ctx, root, next, ver)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return term, err
	}
	return 0, fmt.Errorf("barrier: rotate: %w after %d attempts", ErrConflict, casAttempts)
}

// commit wraps ring under root, saves it if the store is still at ver, and
// installs it. It consumes ring.
func (b *Barrier) commit(ctx context.Context, root []byte, ring *keyring, ver int64) (uint32, error) {
	blob, err := wrapKeyring(root, ring, b.rand)
	if err == nil {
		err = b.store.SaveKeyring(ctx, blob, ver)
	}
	if err != nil {
		ring.wipe()
		if errors.Is(err, ErrConflict) {
			return 0, err
		}
		return 0, fmt.Errorf("barrier: save keyring: %w", err)
	}
	term := ring.active
	if err := b.install(ring, unknownVersion); err != nil {
		return 0, fmt.Errorf("barrier: term %d saved but not loaded: %w", term, err)
	}
	return term, nil
}

// Rekey re-wraps the stored keyring under newRoot (32 bytes, copied), a
// raw key, and makes it this Barrier's root key. Data keys and ciphertexts
// are unchanged. A store that keeps a passphrase salt (SaltStore) has it
// removed in the same save: a raw key has none. Other processes keep
// working with the keys they hold but must restart with the new root key
// to load later keyring changes.
func (b *Barrier) Rekey(ctx context.Context, newRoot []byte) error {
	return b.rekey(ctx, newRoot, nil)
}

// RekeySalt is Rekey to a root key derived from a passphrase and salt
// (DerivePassphrase): the keyring wrapped under newRoot and salt are saved
// together, so no keyring is ever stored beside a salt that does not
// derive the key wrapping it. The store must implement SaltStore.
func (b *Barrier) RekeySalt(ctx context.Context, newRoot, salt []byte) error {
	if len(salt) < SaltSize {
		return ErrNoSalt
	}
	if _, ok := b.store.(SaltStore); !ok {
		return errors.New("barrier: rekey to a passphrase: the keyring store cannot keep its salt")
	}
	return b.rekey(ctx, newRoot, salt)
}

func (b *Barrier) rekey(ctx context.Context, newRoot, salt []byte) error {
	if len(newRoot) != KeySize {
		return ErrInvalidRootKey
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	root, err := b.rootCopy()
	if err != nil {
		return err
	}
	defer clear(root)
	for range casAttempts {
		ring, ver, err := b.loadRing(ctx, root)
		if err != nil {
			return err
		}
		blob, err := wrapKeyring(newRoot, ring, b.rand)
		if err == nil {
			err = b.saveRekeyed(ctx, blob, salt, ver)
		}
		if errors.Is(err, ErrConflict) {
			ring.wipe()
			continue
		}
		if err != nil {
			ring.wipe()
			return fmt.Errorf("barrier: save rekeyed keyring: %w", err)
		}
		if err := b.swapRoot(newRoot); err != nil {
			ring.wipe()
			return err
		}
		return b.install(ring, unknownVersion)
	}
	return fmt.Errorf("barrier: rekey: %w after %d attempts", ErrConflict, casAttempts)
}

// saveRekeyed saves a keyring wrapped under a new root key with that
// key's salt (nil: a raw key) where the store keeps salts.
func (b *Barrier) saveRekeyed(ctx context.Context, blob, salt []byte, ver int64) error {
	if s, ok := b.store.(SaltStore); ok {
		return s.SaveKeyringSalt(ctx, blob, salt, ver)
	}
	return b.store.SaveKeyring(ctx, blob, ver)
}

func (b *Barrier) swapRoot(newRoot []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sealed {
		return ErrSealed
	}
	clear(b.root)
	b.root = append([]byte(nil), newRoot...)
	return nil
}

// Reload re-reads the keyring from the store, picking up terms added by
// another process (such as `bulwark rotate`). It is cheap when nothing
// changed. A stored keyring that lacks a term held in memory is refused with
// ErrKeyringRollback and the keys in memory stay in use.
func (b *Barrier) Reload(ctx context.Context) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	root, err := b.rootCopy()
	if err != nil {
		return err
	}
	defer clear(root)
	blob, ver, err := b.store.LoadKeyring(ctx)
	if err != nil {
		return fmt.Errorf("barrier: load keyring: %w", err)
	}
	if ver == b.currentVersion() {
		return nil
	}
	ring, err := unwrapKeyring(root, blob)
	if err != nil {
		return err
	}
	return b.install(ring, ver)
}

func (b *Barrier) currentVersion() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.version
}

// Watch polls the store every interval and reloads the keyring when its
// version changes, until ctx ends (it then returns ctx.Err()). Store errors
// are retried at the next tick; an error that retrying cannot fix (wrong root
// key after a rekey elsewhere, rollback, corrupt keyring, sealed) is returned
// so the caller can log it. Run it in its own goroutine.
func (b *Barrier) Watch(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("barrier: watch interval must be positive")
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := b.poll(ctx); err != nil && permanent(err) {
			return err
		}
	}
}

// poll reloads when the store's version differs from the one in memory.
func (b *Barrier) poll(ctx context.Context) error {
	if b.isSealed() {
		return ErrSealed
	}
	if v, ok := b.store.(KeyringVersioner); ok {
		ver, err := v.KeyringVersion(ctx)
		if err != nil {
			return err
		}
		if ver == b.currentVersion() {
			return nil
		}
	}
	return b.Reload(ctx)
}

func permanent(err error) bool {
	for _, p := range []error{ErrWrongRootKey, ErrKeyringRollback, ErrCorruptKeyring, ErrSealed} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

func (b *Barrier) isSealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sealed
}
