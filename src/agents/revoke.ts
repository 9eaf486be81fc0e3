import { nowSeconds } from '../_utils/clock.js';
import { revokeRecord } from '../credentials/revoke.js';
import { CreddyError } from '../errors.js';
import { auditEvent } from '../model/audit.js';
import type { Services } from '../services.js';

/**
 * Revokes an agent: a running server refuses its token on the next request, and every credential
 * it still holds is deny-listed and its downstream part revoked where the backend can — after a
 * compromise, what the agent already took must die with it.
 */
export async function revokeAgent(services: Services, name: string, actor: string): Promise<{ credentialsRevoked: number }> {
  const existing = await services.store.agents.byName(name);
  if (!existing || existing.revokedAt !== null) throw new CreddyError('ERR_NOT_FOUND', `no active agent named "${name}"`);
  await services.audit.write({
    change: { kind: 'agent.revoke', name, at: nowSeconds(services.clock) },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.revoked',
      outcome: 'success',
      actor,
      agent: name,
      // Which record: a name may have been revoked before and created again.
      details: { agent_id: existing.id },
    }),
  });
  let credentialsRevoked = 0;
  for (const record of await services.store.credentials.listActive(name, nowSeconds(services.clock))) {
    const done = await revokeRecord(services, record, { actor, clientIp: null, requestId: null, reason: 'agent.revoked' });
    if (done) credentialsRevoked++;
  }
  return { credentialsRevoked };
}
