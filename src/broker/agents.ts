import { randomBytes } from 'node:crypto';
import { CreddyError } from '../errors.js';
import { nowSeconds } from '../_utils/clock.js';
import { sha256Hex } from '../_utils/ids.js';
import { auditEvent } from '../audit/events.js';
import type { AgentRecord, Grant } from '../store/types.js';
import { coveredBy, scopeProblem } from './scopes.js';
import type { Services } from './services.js';
import { revokeRecord } from './revoke.js';

/** Agent bearer tokens: `ckr_` + 32 random bytes base64url (256 bits). */
export const AGENT_TOKEN_RE = /^ckr_[A-Za-z0-9_-]{43}$/;
const AGENT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/**
 * Parses `--can` grants: `BACKEND:SCOPE[,BACKEND:SCOPE…]`. The backend is everything before the
 * first colon, so scopes may contain colons (`gh:contents:read`). Each grant must name a
 * configured backend and lie within its allowed_scopes: a grant the ceiling would silently cut
 * is a mistake worth reporting now.
 */
export function parseGrants(spec: string, services: Pick<Services, 'backends'>): Grant[] {
  const grants: Grant[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const colon = part.indexOf(':');
    if (colon <= 0 || colon === part.length - 1) throw new CreddyError('ERR_USAGE', `grant "${part}" must be BACKEND:SCOPE`);
    const backend = part.slice(0, colon);
    const scope = part.slice(colon + 1);
    const configured = services.backends.get(backend);
    if (!configured) throw new CreddyError('ERR_USAGE', `grant "${part}": no backend named "${backend}" (see creddy backend list)`);
    const problem = scopeProblem(scope);
    if (problem) throw new CreddyError('ERR_USAGE', `grant "${part}": ${problem}`);
    if (!coveredBy(configured.common.allowedScopes, scope)) {
      throw new CreddyError('ERR_USAGE', `grant "${part}": scope is outside ${backend}'s allowed_scopes (${configured.common.allowedScopes.join(', ')})`);
    }
    grants.push({ backend, scope });
  }
  if (grants.length === 0) throw new CreddyError('ERR_USAGE', '--can needs at least one BACKEND:SCOPE');
  return grants;
}

/** Creates an agent and returns its token — the only time the token exists outside the caller. */
export async function createAgent(
  services: Services,
  input: { name: string; grants: Grant[]; ttlSeconds: number | null; actor: string },
): Promise<{ agent: AgentRecord; token: string }> {
  if (!AGENT_NAME_RE.test(input.name)) throw new CreddyError('ERR_USAGE', `agent name must match ${AGENT_NAME_RE.source}`);
  const token = `ckr_${randomBytes(32).toString('base64url')}`;
  const now = nowSeconds(services.clock);
  const agent: AgentRecord = {
    name: input.name,
    tokenHash: sha256Hex(token),
    grants: input.grants,
    createdAt: now,
    expiresAt: input.ttlSeconds === null ? null : now + input.ttlSeconds,
    revokedAt: null,
  };
  const conflict = (): CreddyError => new CreddyError('ERR_CONFLICT', `agent "${agent.name}" already exists`);
  if (await services.store.agents.byName(agent.name)) throw conflict();
  // The agent row and its audit row commit together: no agent exists unaudited.
  await services.audit.write({
    change: { kind: 'agent.create', agent },
    event: auditEvent({
      time: services.clock.now(), type: 'agent.created', outcome: 'success', actor: input.actor, agent: agent.name,
      details: { grants: agent.grants.map((g) => `${g.backend}:${g.scope}`), expires_at: agent.expiresAt },
    }),
  });
  // The insert skips a name taken meanwhile (a racing `agent create`): then this token is not
  // the one stored, and must not be shown as if it worked.
  if ((await services.store.agents.byName(agent.name))?.tokenHash !== agent.tokenHash) throw conflict();
  return { agent, token };
}

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
    event: auditEvent({ time: services.clock.now(), type: 'agent.revoked', outcome: 'success', actor, agent: name }),
  });
  let credentialsRevoked = 0;
  for (const record of await services.store.credentials.listActive(name, nowSeconds(services.clock))) {
    const done = await revokeRecord(services, record, { actor, clientIp: null, requestId: null, reason: 'agent.revoked' });
    if (done) credentialsRevoked++;
  }
  return { credentialsRevoked };
}

/** Lifecycle status of an agent at `now`. */
export function agentStatus(agent: AgentRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (agent.revokedAt !== null) return 'revoked';
  if (agent.expiresAt !== null && agent.expiresAt <= now) return 'expired';
  return 'active';
}
