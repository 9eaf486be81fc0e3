import { CreddyError, isCreddyError } from '../errors.js';
import { createFailureLatch } from './failure-latch.js';
import { discardBody, readCapped } from './read-capped.js';

/**
 * The broker answers `{"jti", "revoked", "kid"}` (src/http/routes/well-known.ts, src/credentials/
 * status.ts): a jti of at most 64 characters and a kid, under 200 bytes. Anything longer is not
 * the broker's verdict, and must not cost the verifier its memory.
 */
const MAX_ANSWER_BYTES = 4096;

/** Options of {@link createDenyList}. */
export interface DenyListOptions {
  /** The broker's base URL, without a trailing slash. */
  readonly base: string;
  readonly fetch: typeof fetch;
  /** Timeout of one request, body included, in ms. */
  readonly timeoutMs: number;
  /** The clock, in ms since the epoch: the retry delay counts on it. */
  readonly now: () => number;
}

/**
 * The broker's public deny-list (`GET /v1/revocations/{jti}`) as a check: resolves false when the
 * jti is revoked (or its signing key is), true when it is not. A jti the broker never issued is
 * `ERR_TOKEN_INVALID`; an answer that is not a verdict (unreachable, timed out, not 200, over
 * 4 KiB, not the expected JSON) is `ERR_ISSUER_UNAVAILABLE`, fail-closed.
 *
 * Like the JWKS cache, it keeps the retry delay of {@link createFailureLatch}: after a failed
 * request every check fails at once for 5 s, so a broker that accepts connections and never
 * answers costs one `timeoutMs`, not one per verification. Concurrent checks of one jti share one
 * request. Verdicts are never cached: a revocation counts from the next request to the broker —
 * a check that joins a request already in flight gets that request's verdict, which may predate a
 * revocation made during its round trip (the same window a check that started a moment earlier has).
 */
export function createDenyList(options: DenyListOptions): (jti: string) => Promise<boolean> {
  const latch = createFailureLatch(options.now);
  const inFlight = new Map<string, Promise<boolean>>();

  return (jti) => {
    const shared = inFlight.get(jti);
    if (shared) return shared;
    const blocked = latch.blocked();
    if (blocked) return Promise.reject(blocked);
    const check = ask(options, jti)
      .then(
        (active) => {
          latch.succeeded();
          return active;
        },
        (err: unknown) => {
          // A verdict the broker gave (an unknown jti) shows it answering; only no verdict latches.
          if (isCreddyError(err, 'ERR_ISSUER_UNAVAILABLE')) latch.failed(err);
          else latch.succeeded();
          throw err;
        },
      )
      .finally(() => inFlight.delete(jti));
    inFlight.set(jti, check);
    return check;
  };
}

async function ask({ base, fetch: doFetch, timeoutMs }: DenyListOptions, jti: string): Promise<boolean> {
  const url = `${base}/v1/revocations/${encodeURIComponent(jti)}`;
  const unavailable = (why: string, cause?: unknown) =>
    new CreddyError('ERR_ISSUER_UNAVAILABLE', `cannot check the deny-list at ${url}: ${why}`, cause === undefined ? {} : { cause });
  let response: Response;
  let text: string | null;
  try {
    // The timeout covers the body too: the signal aborts a read that stalls.
    response = await doFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    if (response.status !== 200) {
      discardBody(response);
      // Signed by a published key yet unknown to the broker: never issued there, or its store was lost.
      if (response.status === 404) throw new CreddyError('ERR_TOKEN_INVALID', `token id ${jti} is unknown to the broker`);
      throw unavailable(`HTTP ${response.status}`);
    }
    text = await readCapped(response, MAX_ANSWER_BYTES);
  } catch (err) {
    throw isCreddyError(err) ? err : unavailable((err as Error).message, err);
  }
  if (text === null) throw unavailable(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  let body: { revoked?: unknown } | null;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw unavailable('the answer is not JSON');
  }
  if (typeof body?.revoked !== 'boolean') throw unavailable('the answer has no "revoked" verdict');
  return !body.revoked;
}
