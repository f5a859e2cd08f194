package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// Scopes a key may hold. tools:<name> is checked against KnownTools.
const (
	ScopeLLM         = "llm"
	ScopeAdmin       = "admin"
	ScopeAdminGlobal = "admin:global"
	ScopeGuardBypass = "guard:bypass"
)

// KnownTools are the tool names a "tools:<name>" scope may name ("*" for all).
var KnownTools = []string{"*", "fs.read", "fs.write", "fetch", "sql", "env", "time", "git", "exec"}

// ErrInvalid marks a request to create or change a key that is refused.
var ErrInvalid = errors.New("invalid")

// ErrForbidden marks a change the caller's own authority does not cover.
var ErrForbidden = errors.New("forbidden")

// CanGrant reports whether caller may hand out scope s: a caller can grant
// only scopes it holds itself, and admin:global and guard:bypass only with
// admin:global. A nil caller is the operator (CLI) and may grant anything.
func CanGrant(caller *identity.Identity, s string) bool {
	if caller == nil {
		return true
	}
	if s == ScopeAdminGlobal || s == ScopeGuardBypass {
		return caller.HasScope(ScopeAdminGlobal)
	}
	return caller.HasScope(s)
}

func checkGrant(caller *identity.Identity, scopes []string) error {
	for _, s := range scopes {
		if !CanGrant(caller, s) {
			return fmt.Errorf("scope %q is beyond what this key may grant: %w", s, ErrForbidden)
		}
	}
	return nil
}

// checkTarget refuses changes to keys outside the caller's tenant (as "not
// found", so other tenants' key ids are not confirmed) and to keys holding
// scopes the caller could not grant — a tenant admin cannot rotate the
// global admin key and take its new secret.
func checkTarget(caller *identity.Identity, rec *store.Key) error {
	if caller == nil {
		return nil
	}
	if !caller.HasScope(ScopeAdminGlobal) && rec.Tenant != caller.Tenant {
		return fmt.Errorf("key %s: %w", rec.ID, store.ErrNotFound)
	}
	if err := checkGrant(caller, rec.Scopes); err != nil {
		return fmt.Errorf("key %s: %w", rec.ID, err)
	}
	return nil
}

// validName reports whether a key name is 1–128 letters, numbers,
// spaces or ._:@/- (the set `^[\p{L}\p{N} ._:@/-]{1,128}$` describes). It
// is hand-written because that regular expression compiles to ≈ 5 MB of
// pointer-rich automaton that every garbage collection scans.
func validName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if n > 128 || !nameRune(r) {
			return false
		}
	}
	return n > 0
}

func nameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune(" ._:@/-", r)
}

// ValidateScopes refuses unknown scopes.
func ValidateScopes(scopes []string) error {
	for _, s := range scopes {
		switch {
		case s == ScopeLLM, s == ScopeAdmin, s == ScopeAdminGlobal, s == ScopeGuardBypass:
		case strings.HasPrefix(s, "tools:") && slices.Contains(KnownTools, strings.TrimPrefix(s, "tools:")):
		default:
			return fmt.Errorf("unknown scope %q (known: llm, admin, admin:global, guard:bypass, tools:<%s>): %w",
				s, strings.Join(KnownTools, "|"), ErrInvalid)
		}
	}
	return nil
}

// KeySpec describes a key to create.
type KeySpec struct {
	Name    string
	Tenant  string
	Scopes  []string
	Models  []string
	Tools   []string
	Expires time.Duration // 0: never
	NoLog   bool
	Limits  string
	Guard   string
}

// Keys manages virtual keys: creation, verification with a short-lived
// cache, rotation, revocation. Safe for concurrent use. A change made by
// any process on the same store takes effect here within the watch
// interval (≤ 1 s), because the cache is dropped whenever the store's key
// generation moves.
type Keys struct {
	st      store.Store
	hashKey []byte
	macs    sync.Pool // of *pooledMAC: HMAC-SHA256 keyed with hashKey
	log     *audit.Log
	now     func() time.Time

	mu       sync.RWMutex
	cache    map[string]*store.Key
	gen      int64
	epoch    int64 // bumped by every change made through this manager
	polledAt time.Time
}

// NewKeys returns a key manager. hashKey is the HMAC key for stored hashes.
func NewKeys(st store.Store, hashKey []byte, log *audit.Log) *Keys {
	return &Keys{st: st, hashKey: hashKey, log: log, now: time.Now, cache: map[string]*store.Key{}}
}

// Create makes a key on the operator's authority (the CLI) and returns
// the full secret (shown once) and the record.
func (k *Keys) Create(ctx context.Context, actor string, spec KeySpec) (string, *store.Key, error) {
	return k.create(ctx, actor, nil, spec)
}

// CreateAs makes a key on behalf of caller (an admin key): the key's tenant
// must be the caller's own unless the caller holds admin:global, and every
// scope must be one the caller may grant (see CanGrant).
func (k *Keys) CreateAs(ctx context.Context, caller *identity.Identity, spec KeySpec) (string, *store.Key, error) {
	if caller == nil {
		return "", nil, fmt.Errorf("create key: no caller: %w", ErrForbidden)
	}
	if spec.Tenant == "" {
		spec.Tenant = caller.Tenant
	}
	if !caller.HasScope(ScopeAdminGlobal) && spec.Tenant != caller.Tenant {
		return "", nil, fmt.Errorf("create key in tenant %q: %w", spec.Tenant, ErrForbidden)
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = []string{ScopeLLM}
	}
	if err := ValidateScopes(spec.Scopes); err != nil {
		return "", nil, err
	}
	if err := checkGrant(caller, spec.Scopes); err != nil {
		return "", nil, err
	}
	return k.create(ctx, "key:"+caller.KeyID, caller, spec)
}

func (k *Keys) create(ctx context.Context, actor string, _ *identity.Identity, spec KeySpec) (string, *store.Key, error) {
	if spec.Tenant == "" {
		spec.Tenant = store.DefaultTenant
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = []string{ScopeLLM}
	}
	if err := validateSpec(spec); err != nil {
		return "", nil, err
	}
	full, parsed, err := NewKey()
	if err != nil {
		return "", nil, err
	}
	now := k.now().UTC()
	rec := &store.Key{ID: parsed.ID, Tenant: spec.Tenant, Name: spec.Name, Hash: HashSecret(k.hashKey, parsed),
		Scopes: spec.Scopes, Models: spec.Models, Tools: spec.Tools, NoLog: spec.NoLog, CreatedAt: now,
		Limits: spec.Limits, Guard: spec.Guard}
	if spec.Expires > 0 {
		t := now.Add(spec.Expires)
		rec.ExpiresAt = &t
	}
	ev := audit.Event{Tenant: spec.Tenant, Actor: actor, Action: "key.create", Target: rec.ID,
		Details: map[string]string{"name": spec.Name, "scopes": strings.Join(spec.Scopes, ",")}}
	if err := k.st.CreateKey(ctx, rec, k.log.Func(ev)); err != nil {
		return "", nil, fmt.Errorf("create key: %w", err)
	}
	return full, rec, nil
}

func validateSpec(spec KeySpec) error {
	if !validName(spec.Name) {
		return fmt.Errorf("key name %q: 1–128 letters, digits, spaces or ._:@/-: %w", spec.Name, ErrInvalid)
	}
	if spec.Expires < 0 {
		return fmt.Errorf("expiry must be positive: %w", ErrInvalid)
	}
	return ValidateScopes(spec.Scopes)
}

// Authenticate verifies a presented key and returns its identity. Every
// failure is one of the Err*Key errors; the presented value never appears
// in an error.
func (k *Keys) Authenticate(ctx context.Context, presented string) (*identity.Identity, error) {
	p, err := ParseKey(presented)
	if err != nil {
		return nil, err
	}
	rec, err := k.lookup(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if !k.verify(p, rec.Hash) {
		return nil, ErrUnknownKey
	}
	now := k.now()
	if rec.RevokedAt != nil {
		return nil, ErrRevokedKey
	}
	if rec.ExpiresAt != nil && !now.Before(*rec.ExpiresAt) {
		return nil, ErrExpiredKey
	}
	return &identity.Identity{KeyID: rec.ID, Name: rec.Name, Tenant: rec.Tenant, Kind: identity.KindVirtualKey,
		Scopes: rec.Scopes, Models: rec.Models, Tools: rec.Tools, NoLog: rec.NoLog}, nil
}

// verify reports whether p hashes to stored, in constant time. The keyed
// MACs are pooled: keying one costs two SHA-256 blocks and three
// allocations, on every request.
func (k *Keys) verify(p ParsedKey, stored []byte) bool {
	m, _ := k.macs.Get().(*pooledMAC)
	if m == nil {
		m = &pooledMAC{h: hmac.New(sha256.New, k.hashKey)}
	} else {
		m.h.Reset()
	}
	ok := hmac.Equal(appendHash(m.sum[:0], m.in[:0], m.h, p), stored)
	clear(m.in[:]) // the presented secret does not wait in the pool
	k.macs.Put(m)
	return ok
}

// pooledMAC is a keyed MAC with the buffers one verification needs: held
// by the pool, they are not allocated per request (a hash.Hash's Write and
// Sum take their arguments through an interface, so stack buffers escape).
type pooledMAC struct {
	h   hash.Hash
	in  [idLen + 1 + secretLen]byte
	sum [sha256.Size]byte
}

// Record returns the stored record of an authenticated key (for limits and
// guard policy), from the cache when fresh.
func (k *Keys) Record(ctx context.Context, id string) (*store.Key, error) { return k.lookup(ctx, id) }

// cacheFresh is how long the cache may be trusted without a successful
// generation poll; past it every lookup goes to the store (fail closed).
const cacheFresh = 900 * time.Millisecond

func (k *Keys) lookup(ctx context.Context, id string) (*store.Key, error) {
	k.mu.RLock()
	rec, ok := k.cache[id]
	fresh := k.now().Sub(k.polledAt) < cacheFresh
	gen, epoch := k.gen, k.epoch
	k.mu.RUnlock()
	if ok && fresh {
		return rec, nil
	}
	rec, err := k.st.GetKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("key lookup: %w", err)
	}
	if fresh {
		k.mu.Lock()
		// Cache only if no key changed while we read: otherwise the record
		// may predate a revocation the cache was just cleared for.
		if k.gen == gen && k.epoch == epoch {
			if len(k.cache) > 100_000 { // bound memory: drop all, refill on demand
				clear(k.cache)
			}
			k.cache[id] = rec
		}
		k.mu.Unlock()
	}
	return rec, nil
}

// Poll checks the store's key generation once and drops the cache if any
// key changed. Watch calls it periodically.
func (k *Keys) Poll(ctx context.Context) error {
	g, err := k.st.KeysGeneration(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	if g != k.gen {
		clear(k.cache)
		k.gen = g
	}
	k.polledAt = k.now()
	k.mu.Unlock()
	return nil
}

// Watch polls every interval until ctx ends.
func (k *Keys) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_ = k.Poll(ctx) // on error the cache goes stale and lookups hit the store
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Revoke revokes a key at once.
func (k *Keys) Revoke(ctx context.Context, actor, tenant, id string) error {
	return k.revoke(ctx, actor, nil, tenant, id)
}

// RevokeAs revokes a key on behalf of caller (see CreateAs for the rules).
func (k *Keys) RevokeAs(ctx context.Context, caller *identity.Identity, id string) error {
	if caller == nil {
		return ErrForbidden
	}
	return k.revoke(ctx, "key:"+caller.KeyID, caller, "", id)
}

func (k *Keys) revoke(ctx context.Context, actor string, caller *identity.Identity, tenant, id string) error {
	_, err := k.update(ctx, actor, caller, tenant, id, "key.revoke", func(rec *store.Key) error {
		if rec.RevokedAt != nil {
			return nil
		}
		t := k.now().UTC()
		rec.RevokedAt = &t
		return nil
	})
	return err
}

// Rotate gives a key a new secret; the old one stops working at once.
func (k *Keys) Rotate(ctx context.Context, actor, tenant, id string) (string, error) {
	return k.rotate(ctx, actor, nil, tenant, id)
}

// RotateAs rotates a key on behalf of caller (see CreateAs for the rules).
func (k *Keys) RotateAs(ctx context.Context, caller *identity.Identity, id string) (string, error) {
	if caller == nil {
		return "", ErrForbidden
	}
	return k.rotate(ctx, "key:"+caller.KeyID, caller, "", id)
}

func (k *Keys) rotate(ctx context.Context, actor string, caller *identity.Identity, tenant, id string) (string, error) {
	var full string
	_, err := k.update(ctx, actor, caller, tenant, id, "key.rotate", func(rec *store.Key) error {
		if rec.RevokedAt != nil {
			return fmt.Errorf("key %s is revoked: %w", id, ErrInvalid)
		}
		f, p, err := NewSecretFor(rec.ID)
		if err != nil {
			return err
		}
		full, rec.Hash = f, HashSecret(k.hashKey, p)
		return nil
	})
	return full, err
}

// KeyUpdate lists the fields to change; nil fields stay as they are. The
// secret is never changed here (use Rotate).
type KeyUpdate struct {
	Name    *string
	Scopes  []string
	Models  []string
	Tools   []string
	Expires *time.Duration // 0 clears the expiry
	NoLog   *bool
	Limits  *string
	// MergeLimits, when set, computes the new limits from the stored ones
	// inside the update's transaction (after Limits), so two concurrent
	// edits of different limit fields cannot lose one another.
	MergeLimits func(stored string) (string, error)
	Guard       *string
}

// Update changes a key's settings.
func (k *Keys) Update(ctx context.Context, actor, tenant, id string, u KeyUpdate) (*store.Key, error) {
	return k.update(ctx, actor, nil, tenant, id, "key.update", func(rec *store.Key) error {
		return k.apply(rec, u)
	})
}

// UpdateAs changes a key on behalf of caller: the key must be one the
// caller may change, and new scopes must be ones it may grant.
func (k *Keys) UpdateAs(ctx context.Context, caller *identity.Identity, id string, u KeyUpdate) (*store.Key, error) {
	if caller == nil {
		return nil, ErrForbidden
	}
	if u.Scopes != nil {
		if err := ValidateScopes(u.Scopes); err != nil {
			return nil, err
		}
		if err := checkGrant(caller, u.Scopes); err != nil {
			return nil, err
		}
	}
	return k.update(ctx, "key:"+caller.KeyID, caller, "", id, "key.update", func(rec *store.Key) error {
		return k.apply(rec, u)
	})
}

func (k *Keys) apply(rec *store.Key, u KeyUpdate) error {
	if u.Name != nil {
		if !validName(*u.Name) {
			return fmt.Errorf("key name %q: %w", *u.Name, ErrInvalid)
		}
		rec.Name = *u.Name
	}
	if u.Scopes != nil {
		if err := ValidateScopes(u.Scopes); err != nil {
			return err
		}
		rec.Scopes = u.Scopes
	}
	if u.Models != nil {
		rec.Models = u.Models
	}
	if u.Tools != nil {
		rec.Tools = u.Tools
	}
	if u.Expires != nil {
		rec.ExpiresAt = nil
		if *u.Expires > 0 {
			t := k.now().UTC().Add(*u.Expires)
			rec.ExpiresAt = &t
		}
	}
	if u.NoLog != nil {
		rec.NoLog = *u.NoLog
	}
	if u.Limits != nil {
		rec.Limits = *u.Limits
	}
	if u.MergeLimits != nil {
		l, err := u.MergeLimits(rec.Limits)
		if err != nil {
			return err
		}
		rec.Limits = l
	}
	if u.Guard != nil {
		rec.Guard = *u.Guard
	}
	return nil
}

// update applies fn to key id, which must belong to tenant unless tenant
// is "" (global admin or CLI), and audits it in the same transaction.
func (k *Keys) update(ctx context.Context, actor string, caller *identity.Identity, tenant, id, action string, fn func(*store.Key) error) (*store.Key, error) {
	var keyTenant string
	rec, err := k.st.UpdateKey(ctx, id, func(rec *store.Key) error {
		if tenant != "" && rec.Tenant != tenant {
			return fmt.Errorf("key %s: %w", id, store.ErrNotFound)
		}
		if err := checkTarget(caller, rec); err != nil {
			return err
		}
		keyTenant = rec.Tenant
		return fn(rec)
	}, func(prev *store.AuditRow) (store.AuditRow, error) {
		return k.log.Func(audit.Event{Tenant: keyTenant, Actor: actor, Action: action, Target: id})(prev)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	k.mu.Lock()
	delete(k.cache, id)
	k.epoch++
	k.mu.Unlock()
	return rec, nil
}
