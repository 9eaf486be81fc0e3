import { CreddyError } from '../errors.js';

/**
 * The broker's public deny-list (`GET /v1/revocations/{jti}`): false when the jti is revoked. A
 * jti it never issued is invalid; an answer that is not a verdict is `ERR_ISSUER_UNAVAILABLE`.
 */
export async function notRevoked(doFetch: typeof fetch, base: string, jti: string, timeoutMs: number): Promise<boolean> {
  const url = `${base}/v1/revocations/${encodeURIComponent(jti)}`;
  let response: Response;
  let body: { revoked?: unknown } | undefined;
  try {
    response = await doFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    body = (await response.json().catch(() => undefined)) as typeof body;
  } catch (err) {
    throw new CreddyError('ERR_ISSUER_UNAVAILABLE', `cannot reach the deny-list at ${url}: ${(err as Error).message}`, { cause: err });
  }
  // Signed by a published key yet unknown to the broker: never issued there, or its store was lost.
  if (response.status === 404) throw new CreddyError('ERR_TOKEN_INVALID', `token id ${jti} is unknown to the broker`);
  if (response.status !== 200 || typeof body?.revoked !== 'boolean') {
    throw new CreddyError('ERR_ISSUER_UNAVAILABLE', `the deny-list at ${url} answered ${response.status}`);
  }
  return !body.revoked;
}
