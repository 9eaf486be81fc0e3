/**
 * Migration v1 of the PostgreSQL schema: the core tables, as in SQLite's v1 (plus the reaper's
 * lease column, SQLite's v3). Times are epoch seconds (BIGINT), audit times epoch ms; JSON columns
 * are TEXT holding exactly what the store wrote (JSONB would reorder keys and refuse `\u0000`).
 */
export const SCHEMA_V1_SQL = `
CREATE TABLE agents (
  name        TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL UNIQUE,
  grants      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  revoked_at  BIGINT
);

CREATE TABLE signing_keys (
  kid            TEXT PRIMARY KEY,
  state          TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
  public_x       TEXT NOT NULL,
  sealed_private BYTEA NOT NULL,
  kek_id         TEXT NOT NULL,
  created_at     BIGINT NOT NULL,
  published_at   BIGINT NOT NULL,
  activated_at   BIGINT,
  retired_at     BIGINT,
  revoked_at     BIGINT
);
-- The database itself guarantees at most one signer and one successor, whatever races.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

CREATE TABLE credentials (
  jti                   TEXT PRIMARY KEY,
  agent                 TEXT NOT NULL,
  backend               TEXT NOT NULL,
  scopes                TEXT NOT NULL,
  kid                   TEXT NOT NULL,
  issued_at             BIGINT NOT NULL,
  expires_at            BIGINT NOT NULL,
  revoked_at            BIGINT,
  metadata              TEXT,
  downstream            TEXT,
  revocation_handle     BYTEA,
  downstream_revoked_at BIGINT,
  reap_lease_until      BIGINT
);
CREATE INDEX credentials_agent ON credentials (agent, expires_at);
CREATE INDEX credentials_kid ON credentials (kid, expires_at);
CREATE INDEX credentials_reap ON credentials (expires_at)
  WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL;

CREATE TABLE audit_events (
  seq        BIGINT PRIMARY KEY,
  time       BIGINT NOT NULL,
  type       TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  actor      TEXT NOT NULL,
  agent      TEXT,
  backend    TEXT,
  scopes     TEXT,
  jti        TEXT,
  kid        TEXT,
  reason     TEXT,
  client_ip  TEXT,
  request_id TEXT,
  details    TEXT,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL,
  key_id     TEXT NOT NULL
);
CREATE INDEX audit_time ON audit_events (time);
CREATE INDEX audit_backend_time ON audit_events (backend, time);
CREATE INDEX audit_agent_time ON audit_events (agent, time);
CREATE INDEX audit_type_time ON audit_events (type, time);
CREATE INDEX audit_jti ON audit_events (jti) WHERE jti IS NOT NULL;
`;
