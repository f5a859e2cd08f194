package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// keyring is an in-memory key store standing in for the lead's: it
// authenticates secrets and reports whether a key is active.
type keyring struct {
	mu      sync.Mutex
	keys    map[string]*identity.Identity // secret → identity
	revoked map[string]bool
	fail    error
}

func newKeyring() *keyring {
	return &keyring{keys: map[string]*identity.Identity{}, revoked: map[string]bool{}}
}

func (k *keyring) add(secret string, id *identity.Identity) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[secret] = id
}

func (k *keyring) revoke(keyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.revoked[keyID] = true
}

var errUnknownKey = errors.New("unknown key")

func (k *keyring) Authenticate(_ context.Context, secret string) (*identity.Identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for s, id := range k.keys {
		if subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 && !k.revoked[id.KeyID] {
			return id, nil
		}
	}
	return nil, errUnknownKey
}

func (k *keyring) Active(_ context.Context, keyID string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return false, k.fail
	}
	for _, id := range k.keys {
		if id.KeyID == keyID {
			return !k.revoked[keyID], nil
		}
	}
	return false, nil
}

// memAudit is an in-memory audit.Appender.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memAudit) Append(_ context.Context, e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) all() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Event(nil), m.events...)
}
