-- The Argon2id salt of a passphrase master key, beside the keyring it
-- protects (it was only in <data dir>/passphrase.salt before). The salt is
-- not secret; the passphrase is never stored.
CREATE TABLE keyring_salt (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  salt BLOB NOT NULL
);
