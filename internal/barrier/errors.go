package barrier

import "errors"

// Sentinel errors callers branch on. Messages never contain key material or
// the value being parsed.
var (
	// ErrSealed is returned by every operation after Seal.
	ErrSealed = errors.New("barrier: sealed")
	// ErrWrongRootKey means the keyring does not authenticate under the root
	// key given: the master key is wrong (or the stored keyring was altered).
	ErrWrongRootKey = errors.New("barrier: the master key does not open the stored keyring (wrong BULWARK_MASTER_KEY / BULWARK_MASTER_KEY_FILE, or the keyring was altered)")
	// ErrInvalidRootKey means a root key is not exactly 32 bytes.
	ErrInvalidRootKey = errors.New("barrier: root key must be exactly 32 bytes")
	// ErrCorruptKeyring means the stored keyring is structurally invalid.
	ErrCorruptKeyring = errors.New("barrier: stored keyring is malformed")
	// ErrKeyringRollback means the stored keyring lacks or changes a term this
	// process already holds; it is refused so data sealed under it stays readable.
	ErrKeyringRollback = errors.New("barrier: stored keyring drops or changes a known term")
	// ErrMalformed means a ciphertext or its text form is not in the v1 format.
	ErrMalformed = errors.New("barrier: malformed ciphertext")
	// ErrUnknownTerm means a ciphertext names a term the keyring does not hold.
	ErrUnknownTerm = errors.New("barrier: ciphertext term not in keyring")
	// ErrAuth means a well-formed ciphertext does not authenticate for the
	// record identity given: it was altered or moved from another record.
	ErrAuth = errors.New("barrier: ciphertext does not authenticate for this record")
	// ErrInvalidAAD means a record identity has an empty table, id or field.
	ErrInvalidAAD = errors.New("barrier: record identity needs table, id and field")
	// ErrNotFound is returned by KeyringStore.LoadKeyring when no keyring exists.
	ErrNotFound = errors.New("barrier: no keyring stored")
	// ErrConflict is returned by KeyringStore.SaveKeyring when the stored
	// version is not the expected one (another writer got there first).
	ErrConflict = errors.New("barrier: keyring changed concurrently")
)
