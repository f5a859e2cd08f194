CREATE TABLE tenants (
  name       TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
INSERT INTO tenants(name, created_at) VALUES ('default', CAST(strftime('%s','now') AS INTEGER) * 1000);

CREATE TABLE keys (
  id           TEXT PRIMARY KEY,
  tenant       TEXT NOT NULL REFERENCES tenants(name),
  name         TEXT NOT NULL,
  hash         BLOB NOT NULL,
  scopes       TEXT NOT NULL,
  models       TEXT NOT NULL,
  tools        TEXT NOT NULL DEFAULT '[]',
  expires_at   INTEGER,
  revoked_at   INTEGER,
  no_log       INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER,
  limits       TEXT NOT NULL DEFAULT '',
  guard        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX keys_tenant ON keys(tenant);

CREATE TABLE providers (
  tenant         TEXT NOT NULL REFERENCES tenants(name),
  name           TEXT NOT NULL,
  type           TEXT NOT NULL,
  base_url       TEXT NOT NULL,
  models         TEXT NOT NULL,
  credential     TEXT NOT NULL DEFAULT '',
  credential_env TEXT NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (tenant, name)
);

CREATE TABLE secrets (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE keyring (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  blob    BLOB NOT NULL,
  version INTEGER NOT NULL
);

CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO meta(name, value) VALUES ('keys_generation', 0);

CREATE TABLE audit_events (
  seq        INTEGER PRIMARY KEY,
  ts         INTEGER NOT NULL,
  tenant     TEXT NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  target     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  request_id TEXT NOT NULL,
  details    TEXT NOT NULL,
  mac        TEXT NOT NULL
);

CREATE TABLE audit_anchor (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  seq      INTEGER NOT NULL,
  prev_mac TEXT NOT NULL,
  mac      TEXT NOT NULL
);

CREATE TABLE usage (
  id                 INTEGER PRIMARY KEY,
  ts                 INTEGER NOT NULL,
  request_id         TEXT NOT NULL,
  tenant             TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  model              TEXT NOT NULL,
  provider           TEXT NOT NULL,
  deployment         TEXT NOT NULL,
  prompt_tokens      INTEGER NOT NULL,
  completion_tokens  INTEGER NOT NULL,
  cached_tokens      INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  reasoning_tokens   INTEGER NOT NULL,
  cost_micros        INTEGER NOT NULL,
  latency_ms         INTEGER NOT NULL,
  ttfb_ms            INTEGER NOT NULL,
  status             INTEGER NOT NULL,
  stream             INTEGER NOT NULL
);
CREATE INDEX usage_key_ts ON usage(key_id, ts);
CREATE INDEX usage_tenant_ts ON usage(tenant, ts);
