/**
 * Schema v4: one agents row per `agent create` (an id), so a revoked agent's name can be created
 * again while the revoked record stays for the audit trail. Existing rows take their name as id
 * (names were unique until now), which is also what their audit rows imply.
 */
export const SCHEMA_V4_SQL = `
ALTER TABLE agents ADD COLUMN id TEXT;
UPDATE agents SET id = name;
ALTER TABLE agents ALTER COLUMN id SET NOT NULL;
ALTER TABLE agents DROP CONSTRAINT agents_pkey;
ALTER TABLE agents ADD PRIMARY KEY (id);
-- At most one unrevoked record per name; revoked ones stay.
CREATE UNIQUE INDEX agents_live_name ON agents (name) WHERE revoked_at IS NULL;
CREATE INDEX agents_name ON agents (name COLLATE "C", created_at);
`;
