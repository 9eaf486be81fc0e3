import { nowSeconds } from '../_utils/clock.js';
import { sha256Hex } from '../_utils/ids.js';
import { GRANT_REVOKED_REASON, revokeRecord } from '../credentials/revoke.js';
import { CreddyError } from '../errors.js';
import type { AgentRecord, Grant } from '../model/agent.js';
import { auditEvent } from '../model/audit.js';
import { uncoveredScope } from '../policy/grants.js';
import type { Services } from '../services.js';
import { agentFacts } from './facts.js';
import { newAgentToken } from './token.js';

/** What an update changes; what is left out stays as it is. */
export interface AgentChange {
  /** A new bearer token: the old one stops working as soon as the update commits. */
  readonly newToken?: boolean;
  readonly grants?: readonly Grant[];
  /** New expiry (epoch s), or null for never. */
  readonly expiresAt?: number | null;
}

/**
 * Changes an unrevoked agent: a new token (bearer agents only), grants, expiry; its public keys
 * and require_dpop stay as they are. A bearer agent's expiry moves only with a new token
 * (`rotate-token --expires`): extending the life of a secret that may have leaked is what its
 * renewal must not do; a key-pair agent's moves alone (`agent renew`), expired or not. The record and its `agent.updated` row
 * (which carries the new facts, so the server's check against the log follows) commit together.
 * Credentials the agent holds that its new grants no longer cover are revoked: removing a grant
 * takes effect now, not when those credentials expire.
 */
export async function updateAgent(
  services: Services,
  name: string,
  change: AgentChange,
  actor: string,
): Promise<{ agent: AgentRecord; token: string | undefined; credentialsRevoked: number }> {
  const existing = await services.store.agents.byName(name);
  if (!existing || existing.revokedAt !== null) throw new CreddyError('ERR_NOT_FOUND', `no active agent named "${name}"`);
  // A key-pair agent always holds a key (the last one cannot be removed); a bearer agent none.
  const renewsAlone = change.expiresAt !== undefined && !change.newToken;
  const keyPair = change.newToken || renewsAlone ? (await services.store.agentKeys.byAgent(name)).length > 0 : undefined;
  // A key-pair agent holds no bearer secret: a token would give it one. Its keys rotate instead.
  if (change.newToken && keyPair) {
    throw new CreddyError(
      'ERR_USAGE',
      `agent "${name}" authenticates with its key pair, not a token; rotate its key with creddy agent key add / remove`,
    );
  }
  if (renewsAlone && !keyPair) {
    throw new CreddyError(
      'ERR_USAGE',
      `agent "${name}" authenticates with a bearer token; renew it with creddy agent rotate-token ${name} --expires DURATION (a new token)`,
    );
  }
  const token = change.newToken ? newAgentToken() : undefined;
  const agent: AgentRecord = {
    ...existing,
    tokenHash: token === undefined ? existing.tokenHash : sha256Hex(token),
    grants: change.grants ?? existing.grants,
    expiresAt: change.expiresAt === undefined ? existing.expiresAt : change.expiresAt,
  };
  const changed = [
    token !== undefined && 'token',
    change.grants !== undefined && 'grants',
    change.expiresAt !== undefined && change.expiresAt !== existing.expiresAt && 'expires_at',
  ].filter((c): c is string => c !== false);
  await services.audit.write({
    change: { kind: 'agent.update', id: agent.id, tokenHash: agent.tokenHash, grants: agent.grants, expiresAt: agent.expiresAt },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.updated',
      outcome: 'success',
      actor,
      agent: agent.name,
      details: { ...agentFacts(agent), changed },
    }),
  });
  // Skipped if the agent was revoked meanwhile: then nothing changed, and a new token must not be shown.
  const stored = await services.store.agents.byName(name);
  if (stored?.id !== agent.id || stored.tokenHash !== agent.tokenHash || stored.revokedAt !== null) {
    throw new CreddyError('ERR_CONFLICT', `agent "${name}" was revoked or changed meanwhile; nothing was changed`);
  }
  const credentialsRevoked = change.grants === undefined ? 0 : await revokeUncovered(services, agent, actor);
  return { agent, token, credentialsRevoked };
}

/** Revokes the agent's active credentials that scopes its grants no longer cover were issued with. */
async function revokeUncovered(services: Services, agent: AgentRecord, actor: string): Promise<number> {
  let revoked = 0;
  for (const record of await services.store.credentials.listActive(agent.name, nowSeconds(services.clock))) {
    if (uncoveredScope(agent.grants, record) === undefined) continue;
    const done = await revokeRecord(services, record, { actor, clientIp: null, requestId: null, reason: GRANT_REVOKED_REASON });
    if (done) revoked++;
  }
  return revoked;
}
