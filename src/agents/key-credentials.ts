import { nowSeconds } from '../_utils/clock.js';
import { KEY_REMOVED_REASON, revokeRecord } from '../credentials/revoke.js';
import type { Services } from '../services.js';

/**
 * Revokes the agent's active credentials that key `jkt` obtained or can present, with their
 * downstream parts: after a key leak, what the thief already took with it must die with it.
 * Which key a credential came through is recorded in its `credential.issued` row:
 * `details.agent_key` (the key whose client assertion asked) and `details.dpop_jkt` (the key it
 * is bound to, `cnf.jkt`); either one being `jkt` revokes it. A credential whose issuance row is
 * gone (audit retention shorter than its lifetime) is revoked too: the key it came through can no
 * longer be told, and a removal that may follow a leak errs on the side of revoking. Credentials
 * of the agent's other keys, and its bearer-era ones, stay. Returns how many were revoked.
 */
export async function revokeKeyCredentials(services: Services, agent: string, jkt: string, actor: string): Promise<number> {
  let revoked = 0;
  for (const record of await services.store.credentials.listActive(agent, nowSeconds(services.clock))) {
    const [issued] = await services.store.audit.query({ jti: record.jti, type: 'credential.issued', limit: 1 });
    const through = issued === undefined || issued.details?.['agent_key'] === jkt || issued.details?.['dpop_jkt'] === jkt;
    if (!through) continue;
    const done = await revokeRecord(services, record, { actor, clientIp: null, requestId: null, reason: KEY_REMOVED_REASON });
    if (done) revoked++;
  }
  return revoked;
}
