import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { randomId, sha256Hex } from '../_utils/ids.js';
import { CreddyError } from '../errors.js';
import { type AgentRecord, agentStatus, type Grant } from '../model/agent.js';
import { auditEvent } from '../model/audit.js';
import type { Services } from '../services.js';
import { agentFacts } from './facts.js';
import { newAgentToken } from './token.js';

const AGENT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/**
 * Creates an agent and returns its token — the only time the token exists outside the caller.
 * A name whose agent was revoked may be used again: the new agent is a new record (its own id),
 * and the revoked one stays for the audit trail.
 */
export async function createAgent(
  services: Services,
  input: { name: string; grants: Grant[]; ttlSeconds: number | null; actor: string },
): Promise<{ agent: AgentRecord; token: string }> {
  if (!AGENT_NAME_RE.test(input.name)) throw new CreddyError('ERR_USAGE', `agent name must match ${AGENT_NAME_RE.source}`);
  const token = newAgentToken();
  const now = nowSeconds(services.clock);
  const agent: AgentRecord = {
    id: `agt_${randomId(12)}`,
    name: input.name,
    tokenHash: sha256Hex(token),
    grants: input.grants,
    createdAt: now,
    expiresAt: input.ttlSeconds === null ? null : now + input.ttlSeconds,
    revokedAt: null,
  };
  const existing = await services.store.agents.byName(agent.name);
  if (existing && existing.revokedAt === null) {
    const expired = agentStatus(existing, now) === 'expired' ? ` (expired ${isoSeconds(existing.expiresAt!)})` : '';
    throw new CreddyError(
      'ERR_CONFLICT',
      `agent "${agent.name}" already exists${expired}; renew it with creddy agent rotate-token, or revoke it first to use the name again`,
    );
  }
  // The agent row and its audit row commit together: no agent exists unaudited.
  await services.audit.write({
    change: { kind: 'agent.create', agent },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.created',
      outcome: 'success',
      actor: input.actor,
      agent: agent.name,
      details: agentFacts(agent),
    }),
  });
  // The insert skips a name taken meanwhile (a racing `agent create`): then this token is not
  // the one stored, and must not be shown as if it worked.
  if ((await services.store.agents.byName(agent.name))?.tokenHash !== agent.tokenHash) {
    throw new CreddyError('ERR_CONFLICT', `agent "${agent.name}" already exists`);
  }
  return { agent, token };
}
