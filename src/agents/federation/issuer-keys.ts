import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../../_utils/clock.js';
import type { Logger } from '../../_utils/logger.js';
import { isSecureOrLoopbackUrl } from '../../_utils/url.js';
import { CreddyError } from '../../errors.js';
import { type FetchedJson, type FetchLimits, fetchJson } from './fetch-json.js';

/** An unknown kid refetches the keys at most this often per issuer: random kids cannot make creddy a traffic amplifier. */
export const KID_REFETCH_COOLDOWN_MS = 30_000;
/** After a failed fetch, tokens of that issuer are refused without a new attempt for this long. */
export const FETCH_FAILURE_BACKOFF_MS = 5_000;
/** Bounds on the issuer's Cache-Control max-age, and the lifetime when it sends none. */
export const KEYS_MIN_AGE_S = 60;
export const KEYS_MAX_AGE_S = 86_400;
export const KEYS_DEFAULT_AGE_S = 300;
/**
 * Keys past their cache lifetime are still used this long while refetching fails: they were
 * fetched from the issuer over TLS, and one blip at GitHub should not stop every deployment.
 * Beyond it, the issuer's tokens are refused (fail-closed).
 */
export const KEYS_STALE_IF_ERROR_S = 600;
const DISCOVERY_LIMIT = 64 * 1024;
const JWKS_LIMIT = 256 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_KEYS = 64;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** How a key set is fetched; tests pass nothing (the real fetch against a loopback issuer). */
export type FetchDocument = (url: string, limits: FetchLimits) => Promise<FetchedJson>;

export interface IssuerKeys {
  /** The issuer's verification keys, fetched when the cache is empty or expired; ERR_ISSUER_UNAVAILABLE when they cannot be had. */
  keys(): Promise<JWTVerifyGetKey>;
  /** A token named a kid the keys lack: refetch unless one happened in the last 30 s. True when fresh keys are in. */
  refreshForUnknownKid(): Promise<boolean>;
}

interface Cached {
  readonly getKey: JWTVerifyGetKey;
  /** Epoch ms. */
  readonly expiresAt: number;
}

/**
 * The key cache of one issuer: discovery (or the configured jwks_uri) → JWKS, public signing
 * keys only, cached per Cache-Control within [60 s, 1 d]; concurrent misses share one fetch.
 */
export function createIssuerKeys(options: {
  issuer: string;
  jwksUri: string | null;
  ca: string | null;
  clock: Clock;
  logger: Logger;
  fetch?: FetchDocument;
}): IssuerKeys {
  const { issuer, clock, logger } = options;
  const fetchDoc = options.fetch ?? fetchJson;
  const limits = (maxBytes: number): FetchLimits => ({ timeoutMs: FETCH_TIMEOUT_MS, maxBytes, ca: options.ca });
  let cached: Cached | undefined;
  let inflight: Promise<Cached> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let lastFailure: { at: number; message: string } | undefined;

  const load = async (): Promise<Cached> => {
    const jwksUri = options.jwksUri ?? (await discoverJwksUri());
    const { body, maxAge } = await fetchDoc(jwksUri, limits(JWKS_LIMIT));
    const jwks = publicSigningKeys(body);
    const age = Math.min(KEYS_MAX_AGE_S, Math.max(KEYS_MIN_AGE_S, maxAge ?? KEYS_DEFAULT_AGE_S));
    return { getKey: createLocalJWKSet(jwks), expiresAt: clock.now() + age * 1000 };
  };

  const discoverJwksUri = async (): Promise<string> => {
    const { body } = await fetchDoc(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, limits(DISCOVERY_LIMIT));
    const doc = (body ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document must name exactly the issuer it was fetched for.
    if (doc.issuer !== issuer)
      throw new CreddyError('ERR_ISSUER_UNAVAILABLE', `discovery document names issuer ${JSON.stringify(doc.issuer)?.slice(0, 200)}`);
    if (typeof doc.jwks_uri !== 'string' || !isSecureOrLoopbackUrl(doc.jwks_uri))
      throw new CreddyError('ERR_ISSUER_UNAVAILABLE', 'discovery document has no https jwks_uri');
    return doc.jwks_uri;
  };

  /** One fetch at a time; its outcome updates the cache or the failure record. */
  const refetch = (): Promise<Cached> => {
    inflight ??= (async () => {
      lastAttempt = clock.now();
      try {
        cached = await load();
        lastFailure = undefined;
        return cached;
      } catch (err) {
        lastFailure = { at: clock.now(), message: (err as Error).message };
        logger.warn('federation: cannot fetch issuer keys', { issuer, error: lastFailure.message });
        throw err;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  const unavailable = (): CreddyError =>
    new CreddyError('ERR_ISSUER_UNAVAILABLE', `the keys of issuer ${issuer} cannot be fetched; its tokens are refused until they can`, {
      details: { issuer },
      expose: true,
    });

  return {
    async keys() {
      const now = clock.now();
      if (cached && now < cached.expiresAt) return cached.getKey;
      const backingOff = lastFailure !== undefined && now - lastFailure.at < FETCH_FAILURE_BACKOFF_MS;
      if (!backingOff) {
        try {
          return (await refetch()).getKey;
        } catch {
          // Fall through to the stale keys, if still acceptable.
        }
      }
      if (cached && clock.now() < cached.expiresAt + KEYS_STALE_IF_ERROR_S * 1000) return cached.getKey;
      throw unavailable();
    },
    async refreshForUnknownKid() {
      if (inflight)
        return inflight.then(
          () => true,
          () => false,
        );
      if (clock.now() - lastAttempt < KID_REFETCH_COOLDOWN_MS) return false;
      return refetch().then(
        () => true,
        () => false,
      );
    },
  };
}

/**
 * The usable keys of a JWKS: RSA, EC and OKP public keys meant for signatures. Secret (`oct`)
 * keys and private members are dropped — a JWKS that carries them is broken, and an HMAC key
 * must never verify a token.
 */
function publicSigningKeys(body: unknown): JSONWebKeySet {
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new CreddyError('ERR_ISSUER_UNAVAILABLE', 'JWKS has no keys array');
  const usable = keys
    .filter((k): k is JWK => k !== null && typeof k === 'object' && !Array.isArray(k))
    .filter((k) => ['RSA', 'EC', 'OKP'].includes(String(k.kty)) && (k.use === undefined || k.use === 'sig'))
    .filter((k) => PRIVATE_MEMBERS.every((member) => !Object.hasOwn(k, member)))
    .slice(0, MAX_KEYS);
  if (usable.length === 0) throw new CreddyError('ERR_ISSUER_UNAVAILABLE', 'JWKS has no public signing keys');
  return { keys: usable };
}
