// Package barrier owns encryption at rest, after Vault's barrier.
//
// A 32-byte root key (from the environment, a 0600 key file, or a passphrase
// stretched with Argon2id) wraps a keyring of data keys. Each data key has a
// term number; the highest term encrypts, every term decrypts. Rotate adds a
// term without touching existing records; Rekey replaces the root key and
// re-wraps only the keyring, so neither needs downtime. Seal wipes the keys.
//
// A ciphertext is
//
//	term (4 bytes, big-endian) | version (1 byte = 1) | nonce (12) | AES-256-GCM(plaintext) + tag
//
// and its text form for database columns is "enc:v1:" + base64url (no padding).
//
// Why the record identity is the AAD: the caller names the row a value
// belongs to (table, id, field) and GCM authenticates that name together with
// the term and version header. A ciphertext copied into another row, another
// column or another table therefore fails to decrypt instead of silently
// handing one tenant's provider credential to another. The identity is
// length-prefixed, so ("a","bc") and ("ab","c") can never collide.
//
// Why terms: the term in each ciphertext says which data key sealed it, so
// keys can be added while old records stay readable, NeedsRewrap finds the
// records a background job should move forward, and a process that meets a
// term newer than it knows (a `bulwark rotate` run by the CLI on the same
// database) reloads the keyring instead of failing.
//
// Why there is no plaintext fallback: a decrypt path that accepts "legacy"
// unencrypted values lets anyone with write access to the database plant a
// value of their choosing, and hides records that were never encrypted.
// ParseText and Decrypt accept exactly one format and fail closed on anything
// else. Errors never echo the input, which could be a credential stored in
// clear by mistake.
//
// The keyring lives in a KeyringStore (one row in SQLite) updated by
// compare-and-swap, so two processes rotating at once never lose a term.
package barrier
