/**
 * Schema v6: key-pair agents. `agent_keys` holds their Ed25519 public keys (a thumbprint names one
 * key of one agent; at most two per agent, checked by the use case); `agents.require_dpop` makes
 * every credential the agent gets DPoP-bound.
 */
export const SCHEMA_V6_SQL = `
CREATE TABLE agent_keys (
  jkt      TEXT PRIMARY KEY,
  agent    TEXT NOT NULL,
  x        TEXT NOT NULL,
  added_at BIGINT NOT NULL
);
CREATE INDEX agent_keys_agent ON agent_keys (agent, added_at);
ALTER TABLE agents ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT false;
`;
