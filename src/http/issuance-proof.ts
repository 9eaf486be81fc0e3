import type { Context } from 'hono';
import type { IssuanceProof } from '../credentials/dpop-binding.js';
import { type AppEnv, requestHeader } from './context.js';

/**
 * The request's DPoP proof (RFC 9449 §4), if it sent one, with the `htu` it must carry: the
 * broker's issuer plus the request's path — the URL clients know the broker by, which is also
 * right behind a TLS-terminating proxy (where the request's own URL is not).
 */
export function issuanceProof(c: Context<AppEnv>, issuer: string): IssuanceProof | undefined {
  // From the raw header list: c.req.header() would build a web Headers object of every header
  // on every issuance, though almost none carries a proof (~3.4 KB allocated per request).
  const proof = requestHeader(c, 'dpop');
  return proof === undefined ? undefined : { proof, htu: `${issuer}${c.req.path}` };
}
