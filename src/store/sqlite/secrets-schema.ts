/**
 * Migration 5: versions of stored secrets (`type: secret` backends). A path's versions are rows
 * keyed by an opaque id (so `store copy` and rewrap page by one key) and unique by (path, version),
 * which also settles two writers racing for the same next version. Values are sealed under the
 * KEK before they arrive; `sealed` becomes NULL when a value is erased (past its grace, or deleted).
 */
export const SECRETS_SQL = `
CREATE TABLE secret_versions (
  id             TEXT PRIMARY KEY,
  path           TEXT NOT NULL,
  version        INTEGER NOT NULL,
  sealed         BLOB,
  kek_id         TEXT,
  created_at     INTEGER NOT NULL,
  created_by     TEXT NOT NULL,
  generated      INTEGER NOT NULL CHECK (generated IN (0, 1)),
  superseded_at  INTEGER,
  readable_until INTEGER,
  deleted_at     INTEGER,
  UNIQUE (path, version)
) STRICT;
-- Previous versions whose value is still held, by the time it must be erased.
CREATE INDEX secret_versions_erase ON secret_versions (readable_until)
  WHERE sealed IS NOT NULL AND readable_until IS NOT NULL;
`;
