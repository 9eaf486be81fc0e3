import { CreddyError } from '../errors.js';
import type { Services } from '../services.js';
import type { RevocationStatus } from '../wire.js';

/**
 * Public deny-list status of one jti (`GET /v1/revocations/:jti`). Revoked when the credential
 * row says so, when the key that signed it was revoked, or when the audit log records its
 * revocation: a credential row edited or restored from an older copy to look unrevoked, or
 * deleted, does not bring a revoked credential back.
 */
export async function revocationStatus(
  services: Pick<Services, 'store' | 'logger'>,
  jti: string,
  requestId?: string,
): Promise<RevocationStatus> {
  const { store } = services;
  const where = requestId ? { request_id: requestId } : {};
  const record = await store.credentials.get(jti);
  if (record?.revokedAt != null) return { jti, revoked: true, kid: record.kid };
  const logged = await store.audit.query({ jti, limit: 50, order: 'asc' });
  const issued = logged.find((row) => row.type === 'credential.issued');
  const kid = record?.kid ?? issued?.kid;
  if (!kid) throw new CreddyError('ERR_NOT_FOUND', `unknown jti ${jti}`);
  if (logged.some((row) => row.type === 'credential.revoked')) {
    if (record) services.logger.error('credential row says unrevoked but the audit log records its revocation', { jti, ...where });
    return { jti, revoked: true, kid };
  }
  if (!record) services.logger.error('credential row is missing but the audit log records its issuance', { jti, ...where });
  // A revoked signing key revokes every token it signed, at once (the JWKS follows within 1 s).
  const keyRevoked = (await store.keys.list()).some((k) => k.kid === kid && k.state === 'revoked');
  return { jti, revoked: keyRevoked, kid };
}
