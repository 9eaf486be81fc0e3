import type { Context } from 'hono';
import type { IssuanceProof } from '../credentials/dpop-binding.js';
import type { AppEnv } from './context.js';

/**
 * The request's DPoP proof (RFC 9449 §4), if it sent one, with the `htu` it must carry: the
 * broker's issuer plus the request's path — the URL clients know the broker by, which is also
 * right behind a TLS-terminating proxy (where the request's own URL is not).
 */
export function issuanceProof(c: Context<AppEnv>, issuer: string): IssuanceProof | undefined {
  const proof = c.req.header('dpop');
  return proof === undefined ? undefined : { proof, htu: `${issuer}${c.req.path}` };
}
