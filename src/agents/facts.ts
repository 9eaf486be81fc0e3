import type { AgentRecord } from '../model/agent.js';

/**
 * The access-deciding facts of an agent as its audit rows carry them (`agent.created`,
 * `agent.updated`): the log can then tell if any of these columns was edited, and the server
 * re-derives them from the log (audit/state-facts.ts). The token is there only as the digest the
 * table holds.
 */
export function agentFacts(agent: AgentRecord): Record<string, unknown> {
  return {
    agent_id: agent.id,
    grants: agent.grants.map((g) => `${g.backend}:${g.scope}`),
    expires_at: agent.expiresAt,
    token_sha256: agent.tokenHash,
  };
}
