/**
 * Migration v7: a version counter that every change to `agents` bumps, by trigger — whoever
 * makes the change (this server, `creddy agent revoke` in another process, an operator's sqlite3
 * session). The agent cache (agents.ts) reads it on every lookup and starts over when it moved.
 *
 * Why not `PRAGMA data_version`: it moves when any other connection commits anything, and the
 * audit worker's own connection commits every group-commit batch, so it would empty the cache
 * a few hundred times a second under load. The counter moves only when an agent changes.
 */
export const AGENTS_VERSION_SQL = `
CREATE TABLE agents_version (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
) STRICT;
INSERT INTO agents_version (id, version) VALUES (1, 0);

CREATE TRIGGER agents_version_on_insert AFTER INSERT ON agents
BEGIN UPDATE agents_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER agents_version_on_update AFTER UPDATE ON agents
BEGIN UPDATE agents_version SET version = version + 1 WHERE id = 1; END;

CREATE TRIGGER agents_version_on_delete AFTER DELETE ON agents
BEGIN UPDATE agents_version SET version = version + 1 WHERE id = 1; END;
`;
