import { AGENTS_VERSION_SQL } from './agents-schema.js';
import { AUDIT_V2_SQL } from './audit-schema.js';
import { SECRETS_SQL } from './secrets-schema.js';

/**
 * Versioned schema migrations, applied in order; `PRAGMA user_version` records the last one.
 * Append new versions; never edit a released one.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'core tables',
    sql: `
CREATE TABLE agents (
  name        TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL UNIQUE,
  grants      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  revoked_at  INTEGER
) STRICT;

CREATE TABLE signing_keys (
  kid            TEXT PRIMARY KEY,
  state          TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired', 'revoked')),
  public_x       TEXT NOT NULL,
  sealed_private BLOB NOT NULL,
  kek_id         TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  published_at   INTEGER NOT NULL,
  activated_at   INTEGER,
  retired_at     INTEGER,
  revoked_at     INTEGER
) STRICT;
-- The database itself guarantees at most one signer and one successor, whatever races.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

CREATE TABLE credentials (
  jti                   TEXT PRIMARY KEY,
  agent                 TEXT NOT NULL,
  backend               TEXT NOT NULL,
  scopes                TEXT NOT NULL,
  kid                   TEXT NOT NULL,
  issued_at             INTEGER NOT NULL,
  expires_at            INTEGER NOT NULL,
  revoked_at            INTEGER,
  metadata              TEXT,
  downstream            TEXT,
  revocation_handle     BLOB,
  downstream_revoked_at INTEGER
) STRICT;
CREATE INDEX credentials_agent ON credentials (agent, expires_at);
CREATE INDEX credentials_kid ON credentials (kid, expires_at);
CREATE INDEX credentials_reap ON credentials (expires_at)
  WHERE revocation_handle IS NOT NULL AND downstream_revoked_at IS NULL;

CREATE TABLE audit_events (
  seq        INTEGER PRIMARY KEY,
  time       INTEGER NOT NULL,
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
) STRICT;
CREATE INDEX audit_time ON audit_events (time);
CREATE INDEX audit_backend_time ON audit_events (backend, time);
CREATE INDEX audit_agent_time ON audit_events (agent, time);
CREATE INDEX audit_type_time ON audit_events (type, time);
CREATE INDEX audit_jti ON audit_events (jti) WHERE jti IS NOT NULL;
`,
  },
  { version: 2, name: 'audit append-only, checkpoints, retention guard', sql: AUDIT_V2_SQL },
  {
    version: 3,
    name: 'downstream revocation lease',
    // Who may revoke a due downstream credential until when (store.credentials.claimDueForDownstreamRevocation).
    sql: 'ALTER TABLE credentials ADD COLUMN reap_lease_until INTEGER;',
  },
  {
    version: 4,
    name: 'federation: one-time ID tokens, audit by rule and CI run',
    sql: `
CREATE TABLE federation_replay (
  key        TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX federation_replay_expiry ON federation_replay (expires_at);

-- audit list --rule / --run-id: expression indexes over the row's details (the chain covers
-- every column, so the facts stay in details rather than in new columns). Partial: only
-- federated rows are indexed. Queries must use these exact expressions to hit them.
CREATE INDEX audit_federation_rule ON audit_events (json_extract(details, '$.federation.rule'), seq)
  WHERE json_extract(details, '$.federation.rule') IS NOT NULL;
CREATE INDEX audit_federation_run ON audit_events (json_extract(details, '$.federation.run_id'), seq)
  WHERE json_extract(details, '$.federation.run_id') IS NOT NULL;
`,
  },
  {
    version: 5,
    name: 'agents: one record per agent create (id), names reusable after revocation',
    // SQLite cannot change a primary key in place: copy into the new shape. Existing records keep
    // their name as id (names were unique until now), which is also what their audit rows imply.
    sql: `
CREATE TABLE agents_v5 (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  token_hash  TEXT NOT NULL UNIQUE,
  grants      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  revoked_at  INTEGER
) STRICT;
INSERT INTO agents_v5 (id, name, token_hash, grants, created_at, expires_at, revoked_at)
  SELECT name, name, token_hash, grants, created_at, expires_at, revoked_at FROM agents;
DROP TABLE agents;
ALTER TABLE agents_v5 RENAME TO agents;
-- At most one unrevoked record per name; revoked ones stay for the audit trail.
CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE revoked_at IS NULL;
CREATE INDEX agents_name ON agents (name, created_at);
`,
  },
  { version: 6, name: 'secret versions', sql: SECRETS_SQL },
  { version: 7, name: 'agents version counter (agent cache invalidation)', sql: AGENTS_VERSION_SQL },
  {
    version: 8,
    name: 'key-pair agents: public keys, require_dpop',
    // A thumbprint names one key of one agent (the primary key); require_dpop binds every credential the agent gets.
    sql: `
CREATE TABLE agent_keys (
  jkt      TEXT PRIMARY KEY,
  agent    TEXT NOT NULL,
  x        TEXT NOT NULL,
  added_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX agent_keys_agent ON agent_keys (agent, added_at);
ALTER TABLE agents ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
`,
  },
];
