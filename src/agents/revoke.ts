import { nowSeconds } from '../_utils/clock.js';
import { AGENT_REVOKED_REASON, revokeRecord } from '../credentials/revoke.js';
import { CreddyError } from '../errors.js';
import { auditEvent } from '../model/audit.js';
import type { Services } from '../services.js';

/**
 * Revokes an agent: a running server refuses its token on the next request, and every credential
 * it still holds is deny-listed and its downstream part revoked where the backend can — after a
 * compromise, what the agent already took must die with it.
 *
 * The record's revocation and its `agent.revoked` row commit in one guarded transaction
 * (`store.agents.revoke`), decided inside it: of revocations racing for one agent (two CLIs, two
 * replicas), one wins and is recorded once; the others are told there is no active agent, as if
 * they had come a moment later, and revoke nothing. An issuance authenticated before the
 * revocation that commits its credential after it is refused by the issuance itself (the append's
 * `holder` check, `credentials/issue.ts`); one that committed before it is in the scan below.
 */
export async function revokeAgent(services: Services, name: string, actor: string): Promise<{ credentialsRevoked: number }> {
  const existing = await services.store.agents.byName(name);
  if (!existing || existing.revokedAt !== null) throw noActiveAgent(name);
  const event = auditEvent({
    time: services.clock.now(),
    type: 'agent.revoked',
    outcome: 'success',
    actor,
    agent: name,
    // Which record: a name may have been revoked before and created again.
    details: { agent_id: existing.id },
  });
  const won = await services.store.agents.revoke(existing.id, nowSeconds(services.clock), { events: [event], seal: services.auditSeal });
  if (!won) throw noActiveAgent(name);
  let credentialsRevoked = 0;
  for (const record of await services.store.credentials.listActive(name, nowSeconds(services.clock))) {
    const done = await revokeRecord(services, record, { actor, clientIp: null, requestId: null, reason: AGENT_REVOKED_REASON });
    if (done) credentialsRevoked++;
  }
  return { credentialsRevoked };
}

const noActiveAgent = (name: string) => new CreddyError('ERR_NOT_FOUND', `no active agent named "${name}"`);
