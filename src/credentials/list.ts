import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import type { Services } from '../services.js';
import type { CredentialList } from '../wire.js';

/** The agent's credentials that are neither expired nor revoked, without secrets (`GET /v1/credentials`). */
export async function listCredentials(services: Pick<Services, 'store' | 'clock'>, agent: string): Promise<CredentialList> {
  const active = await services.store.credentials.listActive(agent, nowSeconds(services.clock));
  return {
    credentials: active.map((r) => ({
      id: r.jti,
      backend: r.backend,
      scopes: r.scopes,
      issued_at: isoSeconds(r.issuedAt),
      expires_at: isoSeconds(r.expiresAt),
      metadata: r.metadata,
      credential: r.downstream && { type: r.downstream.type, revocation: r.downstream.revocation, expires_at: r.downstream.expiresAt },
    })),
  };
}
