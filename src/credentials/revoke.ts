import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { CreddyError } from '../errors.js';
import { openWithAny, revocationHandleAad } from '../keys/kek.js';
import { auditEvent } from '../model/audit.js';
import { type CredentialRecord, credentialAuditFields } from '../model/credential.js';
import type { Services } from '../services.js';
import type { RevokeResponse } from '../wire.js';
import type { RequestContext } from './context.js';

/**
 * How long one claim on a downstream revocation lasts (seconds): the revoking request's, and each
 * reaper claim's. Long enough for a few downstream calls with their retries; a replica that dies
 * holding a claim delays that revocation by at most this much.
 */
export const DOWNSTREAM_LEASE_S = 300;

/**
 * Revokes one of the caller's credentials: the jti is deny-listed (verifiers that ask creddy see
 * it revoked) and the downstream credential is revoked where the backend can. Another agent's
 * credential answers 404 exactly like a missing one, so ids cannot be probed.
 */
export async function revokeCredential(services: Services, ctx: RequestContext, jti: string): Promise<RevokeResponse> {
  const record = await services.store.credentials.get(jti);
  if (!record || record.agent !== ctx.caller.name) throw new CreddyError('ERR_NOT_FOUND', `no credential ${jti} for this caller`);
  const result = await revokeRecord(services, record, { actor: ctx.caller.name, clientIp: ctx.clientIp, requestId: ctx.requestId });
  if (!result) throw new CreddyError('ERR_CONFLICT', `credential ${jti} is already revoked`);
  return result;
}

/** The `reason` of the `credential.revoked` rows written when an agent key is removed. */
export const KEY_REMOVED_REASON = 'agent.key_removed';

/** The `reason` of the `credential.revoked` rows written when an agent is revoked. */
export const AGENT_REVOKED_REASON = 'agent.revoked';

/** The `reason` of the `credential.revoked` rows written when a grant an agent's credential needs is removed. */
export const GRANT_REVOKED_REASON = 'grant.revoked';

/**
 * The `reason` of the `credential.revoked` row of a credential asked for with an agent token that
 * was rotated before the credential committed (credentials/issue.ts).
 */
export const TOKEN_ROTATED_REASON = 'agent.token_rotated';

/**
 * Deny-lists one credential, revokes its downstream part where possible, and audits it. Returns
 * undefined when it was already revoked — also when another request, replica or `agent revoke`
 * revoked it a moment earlier: only the one whose guarded update wins writes `credential.revoked`
 * and revokes downstream. Shared by the caller's DELETE, RFC 7009 revocation and `agent revoke`.
 */
export async function revokeRecord(
  services: Services,
  record: CredentialRecord,
  who: { actor: string; clientIp: string | null; requestId: string | null; reason?: string },
): Promise<RevokeResponse | undefined> {
  const now = nowSeconds(services.clock);
  if (record.revokedAt !== null) return undefined;
  // The deny-listing and its audit row commit together, decided inside that transaction (the
  // record read above may be stale); the downstream revocation follows and is audited on its own
  // (`downstream.revoked`), or left to the reaper if it fails now.
  const event = auditEvent({
    time: services.clock.now(),
    type: 'credential.revoked',
    outcome: 'success',
    actor: who.actor,
    ...credentialAuditFields(record),
    clientIp: who.clientIp,
    requestId: who.requestId,
    reason: who.reason ?? null,
  });
  const won = await services.store.credentials.revoke(record.jti, now, {
    audit: { events: [event], seal: services.auditSeal },
    // The lease keeps every replica's reaper off the downstream part while this request revokes it.
    leaseUntil: now + DOWNSTREAM_LEASE_S,
  });
  if (!won) return undefined;
  const downstream = await revokeDownstream(services, record, { actor: who.actor, requestId: who.requestId, reason: 'revoked' });
  return { id: record.jti, revoked_at: isoSeconds(now), downstream };
}

/**
 * Revokes the downstream part of a credential if it has a handle, and audits it as
 * `downstream.revoked` (so an operator can show when the token died, not just the JWT). Never
 * throws: a failure is logged and left to the reaper.
 */
export async function revokeDownstream(
  services: Services,
  record: CredentialRecord,
  who: { actor: string; requestId: string | null; reason: 'revoked' | 'expired' },
): Promise<RevokeResponse['downstream']> {
  if (!record.downstream) return null;
  if (!record.revocationHandle || record.downstreamRevokedAt !== null)
    return record.downstream.revocation === 'immediate' ? 'revoked' : record.downstream.revocation;
  const backend = services.backends.get(record.backend);
  try {
    if (!backend) throw new CreddyError('ERR_BACKEND_UNKNOWN', `backend ${record.backend} is no longer configured`);
    const handle = openWithAny(services.keks, record.revocationHandle, revocationHandleAad(record.jti)).toString('utf8');
    await backend.revoke(handle);
    await services.store.credentials.markDownstreamRevoked(record.jti, nowSeconds(services.clock));
  } catch (err) {
    services.logger.warn('downstream revocation failed; the reaper will retry', {
      jti: record.jti,
      error: (err as Error).message,
      ...(who.requestId ? { request_id: who.requestId } : {}),
    });
    return 'failed';
  }
  await services.audit.write({
    event: auditEvent({
      time: services.clock.now(),
      type: 'downstream.revoked',
      outcome: 'success',
      actor: who.actor,
      ...credentialAuditFields(record),
      requestId: who.requestId,
      details: { reason: who.reason },
    }),
  });
  return 'revoked';
}
