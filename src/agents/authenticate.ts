import { nowSeconds } from '../_utils/clock.js';
import { digestsEqual, sha256Hex } from '../_utils/ids.js';
import { CreddyError } from '../errors.js';
import { type AgentRecord, agentStatus } from '../model/agent.js';
import type { Services } from '../services.js';
import { AGENT_TOKEN_RE } from './token.js';

/** Longest Authorization header looked at; anything longer is rejected before parsing. */
const MAX_AUTHORIZATION_LENGTH = 256;

/**
 * Resolves the bearer token to an active agent. Format and length are checked before any
 * lookup; the store is queried by SHA-256 digest and the digest compared in constant time. The
 * store is asked on every request (the SQLite store answers from a cache it re-validates on each
 * lookup) so that `creddy agent revoke` in another process takes effect at once.
 */
export async function authenticate(services: Services, authorization: string | undefined): Promise<AgentRecord> {
  if (!authorization) throw new CreddyError('ERR_UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer ckr_…)');
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) throw new CreddyError('ERR_UNAUTHENTICATED', 'malformed bearer token');
  const match = /^Bearer ([^\s]+)$/i.exec(authorization);
  const token = match?.[1];
  if (!token || !AGENT_TOKEN_RE.test(token)) throw new CreddyError('ERR_UNAUTHENTICATED', 'malformed bearer token');
  const digest = sha256Hex(token);
  const agent = await services.store.agents.byTokenHash(digest);
  if (!agent || !digestsEqual(agent.tokenHash, digest)) throw new CreddyError('ERR_UNAUTHENTICATED', 'unknown bearer token');
  const status = agentStatus(agent, nowSeconds(services.clock));
  if (status !== 'active') {
    throw new CreddyError('ERR_AGENT_REVOKED', `agent "${agent.name}" is ${status}`, { details: { agent: agent.name } });
  }
  // Edited or rolled-back rows (grants widened, revocation cleared) disagree with the audit log.
  await services.stateGuard?.checkAgent(agent);
  return agent;
}
