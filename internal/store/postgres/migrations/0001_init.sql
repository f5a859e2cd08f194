-- Times are Unix milliseconds (bigint), as in the SQLite store, so both
-- stores round and compare them alike.
CREATE TABLE tenants (
  name       text PRIMARY KEY,
  created_at bigint NOT NULL
);
INSERT INTO tenants(name, created_at) VALUES ('default', (extract(epoch FROM now()) * 1000)::bigint);

CREATE TABLE keys (
  id           text PRIMARY KEY,
  tenant       text NOT NULL REFERENCES tenants(name),
  name         text NOT NULL,
  hash         bytea NOT NULL,
  scopes       text[] NOT NULL DEFAULT '{}',
  models       text[] NOT NULL DEFAULT '{}',
  tools        text[] NOT NULL DEFAULT '{}',
  expires_at   bigint,
  revoked_at   bigint,
  no_log       boolean NOT NULL DEFAULT false,
  created_at   bigint NOT NULL,
  last_used_at bigint,
  limits       text NOT NULL DEFAULT '',
  guard        text NOT NULL DEFAULT ''
);
CREATE INDEX keys_tenant ON keys(tenant);

CREATE TABLE providers (
  tenant         text NOT NULL REFERENCES tenants(name),
  name           text NOT NULL,
  type           text NOT NULL,
  base_url       text NOT NULL,
  models         text[] NOT NULL DEFAULT '{}',
  credential     text NOT NULL DEFAULT '',
  credential_env text NOT NULL DEFAULT '',
  created_at     bigint NOT NULL,
  PRIMARY KEY (tenant, name)
);

CREATE TABLE secrets (
  name  text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE keyring (
  id      integer PRIMARY KEY CHECK (id = 1),
  blob    bytea NOT NULL,
  version bigint NOT NULL
);

CREATE TABLE meta (
  name  text PRIMARY KEY,
  value bigint NOT NULL
);
INSERT INTO meta(name, value) VALUES ('keys_generation', 0);

CREATE TABLE audit_events (
  seq        bigint PRIMARY KEY,
  ts         bigint NOT NULL,
  tenant     text NOT NULL,
  actor      text NOT NULL,
  action     text NOT NULL,
  target     text NOT NULL,
  outcome    text NOT NULL,
  request_id text NOT NULL,
  details    text NOT NULL,
  mac        text NOT NULL
);

CREATE TABLE audit_anchor (
  id       integer PRIMARY KEY CHECK (id = 1),
  seq      bigint NOT NULL,
  prev_mac text NOT NULL,
  mac      text NOT NULL
);

-- No index: the table is written once per request and read only by usage
-- summaries, which scan it (see the SQLite store's migration 0002).
CREATE TABLE usage (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ts                 bigint NOT NULL,
  request_id         text NOT NULL,
  tenant             text NOT NULL,
  key_id             text NOT NULL,
  model              text NOT NULL,
  provider           text NOT NULL,
  deployment         text NOT NULL,
  prompt_tokens      bigint NOT NULL,
  completion_tokens  bigint NOT NULL,
  cached_tokens      bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  reasoning_tokens   bigint NOT NULL,
  cost_micros        bigint NOT NULL,
  latency_ms         bigint NOT NULL,
  ttfb_ms            bigint NOT NULL,
  status             integer NOT NULL,
  stream             boolean NOT NULL
);
