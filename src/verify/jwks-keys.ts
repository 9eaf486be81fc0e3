import type { CreddyError } from '../errors.js';
import { isCanonicalBase64url } from './base64url.js';

/**
 * The Ed25519 signing keys of a JWKS body, by kid. Other key types are skipped (a future broker
 * may publish more); a kid listed twice with different keys is dropped, since a verifier could
 * not tell which one the token meant.
 */
export function signingKeys(text: string, unavailable: (why: string) => CreddyError): Map<string, string> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw unavailable('the answer is not JSON');
  }
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw unavailable('the answer has no "keys" array');
  const keys = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const jwk of list as Array<Record<string, unknown>>) {
    if (jwk === null || typeof jwk !== 'object') continue;
    const { kid, x } = jwk;
    const usable =
      jwk['kty'] === 'OKP' &&
      jwk['crv'] === 'Ed25519' &&
      typeof kid === 'string' &&
      typeof x === 'string' &&
      x.length === 43 &&
      isCanonicalBase64url(x) &&
      !('d' in jwk) &&
      (jwk['use'] === undefined || jwk['use'] === 'sig') &&
      (jwk['alg'] === undefined || jwk['alg'] === 'EdDSA' || jwk['alg'] === 'Ed25519');
    if (!usable) continue;
    if (keys.has(kid) && keys.get(kid) !== x) ambiguous.add(kid);
    keys.set(kid, x);
  }
  for (const kid of ambiguous) keys.delete(kid);
  return keys;
}
