/**
 * Schema v5: versions of stored secrets (`type: secret` backends), as SQLite's migration 6. Rows
 * are keyed by an opaque id (`store copy` and rewrap page by one key) and unique by (path,
 * version), which settles two replicas racing for a path's next version. Values arrive sealed
 * under the KEK; `sealed` becomes NULL when a value is erased (past its grace, or deleted).
 */
export const SCHEMA_V5_SQL = `
CREATE TABLE secret_versions (
  id             TEXT PRIMARY KEY,
  path           TEXT NOT NULL,
  version        INTEGER NOT NULL,
  sealed         BYTEA,
  kek_id         TEXT,
  created_at     BIGINT NOT NULL,
  created_by     TEXT NOT NULL,
  generated      SMALLINT NOT NULL CHECK (generated IN (0, 1)),
  superseded_at  BIGINT,
  readable_until BIGINT,
  deleted_at     BIGINT,
  UNIQUE (path, version)
);
-- Previous versions whose value is still held, by the time it must be erased.
CREATE INDEX secret_versions_erase ON secret_versions (readable_until)
  WHERE sealed IS NOT NULL AND readable_until IS NOT NULL;
`;
