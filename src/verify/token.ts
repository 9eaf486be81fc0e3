import type { JWTVerifyGetKey } from 'jose';
import { CreddyError } from '../errors.js';
import { type CreddyClaims, MAX_TOKEN_LENGTH, verifyAccessToken } from './access-token.js';
import { createJwksCache } from './jwks.js';
import type { createVerifier } from './verifier.js';

export { type CreddyClaims, MAX_TOKEN_LENGTH };

/** Options of {@link verifyCreddyToken}. */
export interface VerifyOptions {
  /** Expected `iss`: the broker's issuer URL. */
  readonly issuer: string;
  /**
   * Expected `aud`: this service (a backend's `audience`, or the backend name), or a list of them.
   * Required: without it a token issued for any other service would pass here. `null` opts out
   * explicitly and accepts a token for any audience the broker issues — only for a caller that
   * checks `aud` (or `backend`) itself.
   *
   * Changed: it used to be optional, and leaving it out accepted every audience; leaving it out
   * is now `ERR_USAGE`. Pass `audience: null` to keep the old behaviour on purpose.
   */
  readonly audience: string | readonly string[] | null;
  /** Allowed clock skew in seconds for exp/nbf/iat (default 60). */
  readonly clockTolerance?: number | undefined;
  /** Key source: {@link creddyJwks} or any jose key getter, built once and reused. */
  readonly keys: JWTVerifyGetKey;
  /** Checked after the signature: true when the jti is revoked (e.g. via creddy's revocation endpoint). */
  readonly isRevoked?: ((jti: string) => Promise<boolean>) | undefined;
}

/** Options of {@link creddyJwks}. */
export interface CreddyJwksOptions {
  /**
   * Upper bound, in ms, on how long a fetched JWKS is used. The set is otherwise kept exactly as
   * long as the server's `Cache-Control: max-age` allows (and revalidated with its ETag), which is
   * what keeps rotations invisible to verifiers; set this only to refetch sooner than the server asks.
   */
  readonly cacheMaxAge?: number | undefined;
  /** Minimum time between refetches triggered by an unknown kid, in ms (default 30 s). */
  readonly cooldownDuration?: number | undefined;
  /** The `fetch` to use (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
}

/**
 * A key getter for {@link verifyCreddyToken} over the JWKS of a creddy issuer
 * (`<issuer>/.well-known/jwks.json`). It caches the set for the server's `Cache-Control: max-age`
 * (revalidating with `If-None-Match`), refetches on an unknown kid at most once per cooldown, and
 * never uses a set past its max-age (no stale-if-error window, unlike {@link createVerifier}'s),
 * so rotations and key revocations reach it as docs/keys.md promises. Create one per issuer and
 * reuse it.
 *
 * @deprecated Use {@link createVerifier}, which builds this cache itself and also checks scopes
 * and DPoP proofs. Kept for existing callers; it now honours the server's max-age instead of a
 * fixed 5 minutes.
 *
 * @param issuer - The broker's URL (a trailing slash is ignored).
 * @param fetchOptions - An upper bound on the cache age, the unknown-kid cooldown, a `fetch`.
 * @returns A jose `JWTVerifyGetKey` for {@link VerifyOptions.keys}.
 *
 * @example
 * ```ts
 * import { creddyJwks } from 'creddy/verify';
 *
 * // Once per process: follows the broker's Cache-Control max-age.
 * const keys = creddyJwks('https://creddy.example.com');
 * ```
 */
export function creddyJwks(issuer: string, fetchOptions: CreddyJwksOptions = {}): JWTVerifyGetKey {
  return createJwksCache({
    url: `${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
    fetch: fetchOptions.fetch,
    cooldown: fetchOptions.cooldownDuration,
    maxCacheAge: fetchOptions.cacheMaxAge,
    // Deprecated API, unchanged bound: a set past its max-age is never used (no stale-if-error
    // window its callers did not ask for and cannot turn off).
    staleIfError: 0,
  });
}

/**
 * Verifies a creddy token the way every resource server should: EdDSA only (no `none`, no
 * algorithm confusion), `typ: at+jwt`, the configured issuer and audience, exp/nbf with
 * bounded skew (iat too: never in the future), a kid that is in the JWKS, and optionally the
 * deny-list. The token's format and length (16 KiB at most) are checked before any crypto.
 *
 * A DPoP-bound token (one with `cnf.jkt`) is refused: this function sees no proof, and such a
 * token must never be accepted as a bearer token. {@link createVerifier} checks proofs.
 *
 * @deprecated Use {@link createVerifier}: the same checks, plus required scopes, DPoP proofs and
 * a JWKS cache built for you.
 *
 * @param token - The compact JWT, without the `Bearer ` prefix.
 * @param options - Expected issuer and audience (required; `null` accepts any audience), the key
 * source, clock skew, deny-list check.
 * @returns The verified claims.
 * @throws A {@link CreddyError}: `ERR_USAGE` when `audience` is missing or malformed,
 * `ERR_TOKEN_EXPIRED` past `exp`, `ERR_TOKEN_REVOKED` when `isRevoked` says so,
 * `ERR_ISSUER_UNAVAILABLE` when the JWKS cannot be fetched, `ERR_DPOP_INVALID` for a DPoP-bound
 * token, `ERR_TOKEN_INVALID` for anything else (an unknown kid included: see
 * {@link createVerifier} on revoked keys).
 *
 * @example
 * ```ts
 * import { creddyJwks, verifyCreddyToken } from 'creddy/verify';
 *
 * const issuer = 'https://creddy.example.com';
 * const keys = creddyJwks(issuer); // build once, reuse: it caches the key set
 *
 * export async function canRead(authorization: string): Promise<boolean> {
 *   const token = authorization.replace(/^Bearer /i, '');
 *   const claims = await verifyCreddyToken(token, { issuer, audience: 'https://api.internal', keys });
 *   return claims.scope.split(' ').includes('read');
 * }
 * ```
 */
export async function verifyCreddyToken(token: string, options: VerifyOptions): Promise<CreddyClaims> {
  const audience = audienceOption(options.audience);
  const claims = await verifyAccessToken(token, {
    issuer: options.issuer,
    audience,
    clockTolerance: options.clockTolerance ?? 60,
    keys: options.keys,
    now: Date.now,
  });
  if (claims.cnf) throw new CreddyError('ERR_DPOP_INVALID', 'token is DPoP-bound: it is valid only with a DPoP proof (use createVerifier)');
  if (options.isRevoked && (await options.isRevoked(claims.jti))) {
    throw new CreddyError('ERR_TOKEN_REVOKED', `token ${claims.jti} has been revoked`);
  }
  return claims;
}

/**
 * The `audience` option, checked: a service that verifies tokens must pin its audience (README,
 * "Security model"), so leaving it out is a usage error rather than "any audience", which it was
 * until callers were made to choose. `null` is that choice, made explicitly.
 */
function audienceOption(audience: unknown): string | readonly string[] | undefined {
  if (audience === null) return undefined;
  const list = typeof audience === 'string' ? [audience] : audience;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && a.length > 0)) {
    throw new CreddyError(
      'ERR_USAGE',
      audience === undefined
        ? "verifyCreddyToken: audience is required (this service's aud, or a list of them); pass audience: null to accept any audience"
        : 'verifyCreddyToken: audience must name this service (a non-empty string or list of them), or be null to accept any audience',
    );
  }
  return list as readonly string[];
}

// The TSDoc above links to CreddyError and createVerifier, and a link in the emitted .d.ts
// resolves only to a name that file imports, which it does only for names its declarations use:
// this keeps them there.
export type { CreddyError, createVerifier };
