import { type CryptoKey, importJWK, type JWTVerifyGetKey } from 'jose';
import { CreddyError } from '../errors.js';
import { isCanonicalBase64url } from './base64url.js';

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
  /** Timeout of one JWKS request (default 10 s). */
  readonly timeoutMs?: number | undefined;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/** Without a `Cache-Control: max-age`, trust a fetched set this long: creddy's default `jwks_max_age`. */
const DEFAULT_FRESHNESS_MS = 5 * 60_000;
/** A JWKS larger than this is not creddy's (it publishes a handful of 32-byte keys). */
const MAX_JWKS_BYTES = 512 * 1024;

interface Fetched {
  /** kid → the key's `x`, Ed25519 signing keys only. */
  readonly keys: ReadonlyMap<string, string>;
  readonly etag: string | null;
  /** When the set must be revalidated, ms since the epoch. */
  readonly freshUntil: number;
}

/**
 * A jose key getter over a creddy issuer's JWKS that caches the set exactly as long as the server
 * allows: `Cache-Control: max-age` minus `Age` (`no-cache`/`no-store` mean revalidate every
 * time), revalidated with `If-None-Match` (a 304 renews the freshness). The broker publishes a key
 * `publish_ahead ≥ jwks_max_age` before it signs, so a cache that honours max-age knows every
 * signing key before its first token; holding the set longer (jose's fixed cacheMaxAge) is what
 * made verifiers reject fresh tokens after a rotation. Past max-age the set is not used at all: a
 * broker that cannot be reached fails verification with `ERR_ISSUER_UNAVAILABLE` (revocation
 * relies on the cache expiring). An unknown kid triggers one refetch per cooldown, so forged kids
 * cannot turn every request into a fetch. Concurrent refreshes share one request.
 */
export function createJwksCache(options: JwksCacheOptions): JWTVerifyGetKey {
  const doFetch = options.fetch ?? globalThis.fetch;
  const cooldown = options.cooldown ?? 30_000;
  const maxCacheAge = options.maxCacheAge ?? 24 * 3600_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const now = options.now ?? Date.now;
  const url = options.url;

  let fetched: Fetched | undefined;
  let inFlight: Promise<void> | undefined;
  let lastUnknownKidFetch = Number.NEGATIVE_INFINITY;
  let loads = 0;
  const imported = new Map<string, { x: string; key: Promise<CryptoKey | Uint8Array> }>();

  const unavailable = (why: string, cause?: unknown) =>
    new CreddyError('ERR_ISSUER_UNAVAILABLE', `cannot fetch the JWKS at ${url}: ${why}`, cause === undefined ? {} : { cause });

  const freshness = (headers: Headers): number => {
    const directives = (headers.get('cache-control') ?? '')
      .toLowerCase()
      .split(',')
      .map((d) => d.trim());
    let seconds: number | undefined;
    if (directives.includes('no-store') || directives.includes('no-cache')) seconds = 0;
    for (const directive of directives) {
      const match = /^max-age="?(\d{1,10})"?$/.exec(directive);
      if (match && seconds === undefined) seconds = Number(match[1]);
    }
    const age = /^\d{1,10}$/.test(headers.get('age') ?? '') ? Number(headers.get('age')) : 0;
    const ms = seconds === undefined ? DEFAULT_FRESHNESS_MS : (seconds - age) * 1000;
    return Math.min(Math.max(0, ms), maxCacheAge);
  };

  const load = async (): Promise<void> => {
    const sentAt = now(); // freshness counts from the request, as RFC 9111 does
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json' };
    if (fetched?.etag) headers['if-none-match'] = fetched.etag;
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
      text = await response.text();
    } catch (err) {
      throw unavailable((err as Error).message, err);
    }
    if (response.status === 304 && fetched) {
      fetched = { ...fetched, freshUntil: sentAt + freshness(response.headers) };
      loads++;
      return;
    }
    if (response.status !== 200) throw unavailable(`HTTP ${response.status}`);
    if (text.length > MAX_JWKS_BYTES) throw unavailable('the key set is too large');
    fetched = {
      keys: signingKeys(text, unavailable),
      etag: response.headers.get('etag'),
      freshUntil: sentAt + freshness(response.headers),
    };
    loads++;
  };
  const refresh = (): Promise<void> => (inFlight ??= load().finally(() => (inFlight = undefined)));

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
    if (!fetched || now() >= fetched.freshUntil) await refresh();
    let x = fetched!.keys.get(kid);
    // Another caller may be fetching already (e.g. for the same new kid): its answer counts.
    if (x === undefined && inFlight) {
      await inFlight;
      x = fetched!.keys.get(kid);
    }
    // A set loaded while this lookup waited is as new as a refetch would be.
    if (x === undefined && loads === loadsBefore && now() - lastUnknownKidFetch >= cooldown) {
      lastUnknownKidFetch = now();
      await refresh();
      x = fetched!.keys.get(kid);
    }
    if (x === undefined) {
      // `reason` lets a caller holding the deny-list tell a revoked key from a forged kid.
      throw new CreddyError('ERR_TOKEN_INVALID', `token rejected (no key with kid ${kid} in the issuer's JWKS)`, {
        details: { reason: 'unknown_kid', kid },
      });
    }
    return importKey(kid, x);
  };
}

/**
 * The Ed25519 signing keys of a JWKS body, by kid. Other key types are skipped (a future broker
 * may publish more); a kid listed twice with different keys is dropped, since a verifier could
 * not tell which one the token meant.
 */
function signingKeys(text: string, unavailable: (why: string) => CreddyError): Map<string, string> {
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
