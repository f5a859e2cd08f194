-- The Argon2id salt of a passphrase master key, beside the keyring it
-- protects, so replicas sharing the database need no file of their own
-- (it was only in each replica's <data dir>/passphrase.salt before). The
-- salt is not secret; the passphrase is never stored.
CREATE TABLE keyring_salt (
  id   integer PRIMARY KEY CHECK (id = 1),
  salt bytea NOT NULL
);
