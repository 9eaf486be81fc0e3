import { type CryptoKey, importJWK, type JWTVerifyGetKey } from 'jose';
import { CreddyError } from '../errors.js';
import { freshnessOf } from './cache-control.js';
import { createFailureLatch } from './failure-latch.js';
import { signingKeys } from './jwks-keys.js';
import { discardBody, readCapped } from './read-capped.js';
import { shown } from './rejection.js';

/** Options of {@link createJwksCache}. All durations are in ms. */
export interface JwksCacheOptions {
  /** The JWKS URL, e.g. `https://creddy.example.com/.well-known/jwks.json`. */
  readonly url: string;
  /** The `fetch` to use (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** Refetch on an unknown kid at most once per this long (default 30 s). */
  readonly cooldown?: number | undefined;
  /** Upper bound on the server's `max-age` (default 24 h). */
  readonly maxCacheAge?: number | undefined;
  /** Timeout of one JWKS request, body included (default 10 s). */
  readonly timeoutMs?: number | undefined;
  /** How long past its max-age a set still verifies tokens while the broker cannot be reached (default 5 min; 0: never). */
  readonly staleIfError?: number | undefined;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/** Default of {@link JwksCacheOptions.staleIfError}: creddy's default `jwks_max_age`. */
export const DEFAULT_STALE_IF_ERROR_MS = 5 * 60_000;
/** A JWKS larger than this is not creddy's (it publishes a handful of 32-byte keys). */
const MAX_JWKS_BYTES = 512 * 1024;

interface Fetched {
  /** kid → the key's `x`, Ed25519 signing keys only. */
  readonly keys: ReadonlyMap<string, string>;
  readonly etag: string | null;
  /** When the set must be revalidated, ms since the epoch. */
  readonly freshUntil: number;
  /** Until when it may stand in while revalidation fails (stale-if-error), ms since the epoch. */
  readonly usableUntil: number;
}

/**
 * A jose key getter over a creddy issuer's JWKS that caches the set exactly as long as the server
 * allows: `Cache-Control: max-age` minus `Age` (`no-cache`/`no-store` mean revalidate every
 * time), revalidated with `If-None-Match` (a 304 renews the freshness). The broker publishes a key
 * `publish_ahead ≥ jwks_max_age` before it signs, so a cache that honours max-age knows every
 * signing key before its first token; holding the set longer (jose's fixed cacheMaxAge) is what
 * made verifiers reject fresh tokens after a rotation. An unknown kid triggers one refetch per
 * cooldown, so forged kids cannot turn every request into a fetch. Concurrent refreshes share one
 * request; the body is read up to 512 KiB and no further.
 *
 * When the broker cannot be reached (or answers anything but a key set), two bounds keep
 * verification both available and fail-closed:
 * - **stale-if-error**: a set past its max-age keeps verifying for `staleIfError` more (RFC 5861;
 *   never a `no-store`/`no-cache` one), so a broker restart does not fail every request. A
 *   successful answer always replaces it at once — a key the broker stopped publishing is refused
 *   as soon as the broker is heard — but during an outage a revoked key keeps verifying for up to
 *   `max-age + staleIfError` (0 turns this off). Past that, `ERR_ISSUER_UNAVAILABLE`.
 * - **retry delay**: after a failed fetch, the broker is not asked again for 5 s; lookups that
 *   need it meanwhile fail at once with `ERR_ISSUER_UNAVAILABLE` (instead of each waiting for its
 *   own timeout or each sending a request), and a stale set within its window answers at once
 *   while the next attempt runs.
 */
export function createJwksCache(options: JwksCacheOptions): JWTVerifyGetKey {
  const doFetch = options.fetch ?? globalThis.fetch;
  const cooldown = options.cooldown ?? 30_000;
  const maxCacheAge = options.maxCacheAge ?? 24 * 3600_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleIfError = options.staleIfError ?? DEFAULT_STALE_IF_ERROR_MS;
  const now = options.now ?? Date.now;
  const url = options.url;

  let fetched: Fetched | undefined;
  let inFlight: Promise<void> | undefined;
  const latch = createFailureLatch(now);
  let lastUnknownKidFetch = Number.NEGATIVE_INFINITY;
  let loads = 0;
  const imported = new Map<string, { x: string; key: Promise<CryptoKey | Uint8Array> }>();

  const unavailable = (why: string, cause?: unknown) =>
    new CreddyError('ERR_ISSUER_UNAVAILABLE', `cannot fetch the JWKS at ${url}: ${why}`, cause === undefined ? {} : { cause });

  const load = async (): Promise<void> => {
    const sentAt = now(); // freshness counts from the request, as RFC 9111 does
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json' };
    if (fetched?.etag) headers['if-none-match'] = fetched.etag;
    let response: Response;
    let text: string | null;
    try {
      response = await doFetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
      if (response.status !== 200) {
        discardBody(response);
        if (response.status === 304 && fetched) {
          const { freshMs, mayServeStale } = freshnessOf(response.headers, maxCacheAge);
          const freshUntil = sentAt + freshMs;
          fetched = { ...fetched, freshUntil, usableUntil: freshUntil + (mayServeStale ? staleIfError : 0) };
          loads++;
          return;
        }
        throw unavailable(`HTTP ${response.status}`);
      }
      text = await readCapped(response, MAX_JWKS_BYTES);
    } catch (err) {
      throw err instanceof CreddyError ? err : unavailable((err as Error).message, err);
    }
    if (text === null) throw unavailable(`the key set is larger than ${MAX_JWKS_BYTES} bytes`);
    const { freshMs, mayServeStale } = freshnessOf(response.headers, maxCacheAge);
    fetched = {
      keys: signingKeys(text, unavailable),
      etag: response.headers.get('etag'),
      freshUntil: sentAt + freshMs,
      usableUntil: sentAt + freshMs + (mayServeStale ? staleIfError : 0),
    };
    loads++;
  };

  /** One fetch at a time, and none within the retry delay after a failure. */
  const attempt = (): Promise<void> => {
    if (inFlight) return inFlight;
    const blocked = latch.blocked();
    if (blocked) return Promise.reject(blocked);
    inFlight = load()
      .then(
        () => latch.succeeded(),
        (err: unknown) => {
          const error = err instanceof CreddyError ? err : unavailable(String(err), err);
          latch.failed(error);
          throw error;
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  /** The fresh set; else a refetched one; else, while the broker fails, the last one within its stale-if-error window. */
  const usableSet = async (): Promise<Fetched> => {
    if (fetched && now() < fetched.freshUntil) return fetched;
    if (fetched && latch.failing() && now() < fetched.usableUntil) {
      // Known to be failing: answer from the stale set now, and let the next attempt run behind it.
      attempt().catch(() => {});
      return fetched;
    }
    try {
      await attempt();
    } catch (err) {
      if (fetched && now() < fetched.usableUntil) return fetched;
      throw err;
    }
    return fetched!;
  };

  const importKey = (kid: string, x: string): Promise<CryptoKey | Uint8Array> => {
    const known = imported.get(kid);
    if (known?.x === x) return known.key;
    const key = importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA');
    imported.set(kid, { x, key });
    return key;
  };

  return async (header) => {
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) {
      throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (no usable kid in the header)');
    }
    const loadsBefore = loads;
    let x = (await usableSet()).keys.get(kid);
    // Another caller may be fetching already (e.g. for the same new kid): its answer counts, and
    // if it fails the kid cannot be checked (503, not 401: it may be a key published since).
    if (x === undefined && inFlight) {
      await inFlight;
      x = fetched!.keys.get(kid);
    }
    // A set loaded while this lookup waited is as new as a refetch would be.
    const sinceUnknownKid = now() - lastUnknownKidFetch;
    if (x === undefined && loads === loadsBefore && (sinceUnknownKid >= cooldown || sinceUnknownKid < 0)) {
      const previous = lastUnknownKidFetch;
      lastUnknownKidFetch = now();
      // A refetch that did not happen or failed starts no cooldown: the retry delay paces those.
      await attempt().catch((err: unknown) => {
        lastUnknownKidFetch = previous;
        throw err;
      });
      x = fetched!.keys.get(kid);
    }
    if (x === undefined) {
      // A revoked key leaves the JWKS at once, and from the set alone it looks like any kid the
      // broker never published: this is ERR_TOKEN_INVALID, not ERR_TOKEN_REVOKED (docs/errors.md).
      // Only the broker can tell (its revocation status names the key): `reason` lets a caller that
      // asks it (`creddy verify`) say revoked. And until this cache's set passes its max-age (plus
      // stale-if-error during an outage), the revoked key is still in it and its tokens verify.
      throw new CreddyError('ERR_TOKEN_INVALID', `token rejected (no key with kid ${shown(kid)} in the issuer's JWKS)`, {
        details: { reason: 'unknown_kid', kid },
      });
    }
    return importKey(kid, x);
  };
}
