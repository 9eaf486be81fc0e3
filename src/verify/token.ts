import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { CreddyError } from '../errors.js';
import { isCanonicalBase64url } from './base64url.js';

/**
 * Compact JWS size cap, checked before any crypto or JSON parsing. It must cover the largest
 * token the broker signs: 64 scopes of up to 128 characters (~8.3 KB of `scope`), metadata capped
 * at 2 KiB serialised (http/issue-body.ts), and the fixed claims — about 11 KB of JSON, ~14.8 KB
 * base64url. 16 KiB leaves room for a long issuer and audience.
 */
export const MAX_TOKEN_LENGTH = 16_384;
/** Shape of an EdDSA compact JWS: the payload is bounded by MAX_TOKEN_LENGTH, tested first. */
const TOKEN_RE = /^[A-Za-z0-9_-]{10,2048}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{86}$/;

/**
 * Claims of a verified creddy token (RFC 9068 profile). `scope` is space-separated; split it to
 * check one scope. `aud` is the backend's `audience` setting, or the backend name without one.
 */
export interface CreddyClaims extends JWTPayload {
  /** The broker's issuer URL. */
  readonly iss: string;
  /** The agent the token was issued to. */
  readonly sub: string;
  /** The credential id: revoke or look it up by this. */
  readonly jti: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
  /** Granted scopes, space-separated (`"contents:read issues:write"`). */
  readonly scope: string;
  /** The backend the credential was issued for. */
  readonly backend: string;
  /** The agent, as the OAuth client (the agent name, like `sub`). */
  readonly client_id: string;
  /** The caller's metadata (a small string map), if it sent any. */
  readonly metadata?: Record<string, string>;
}

/** Options of {@link verifyCreddyToken}. */
export interface VerifyOptions {
  /** Expected `iss`: the broker's issuer URL. */
  readonly issuer: string;
  /** Expected `aud`, if the verifier is one service (recommended). */
  readonly audience?: string | readonly string[] | undefined;
  /** Allowed clock skew in seconds for exp/nbf/iat (default 60). */
  readonly clockTolerance?: number | undefined;
  /** Key source: {@link creddyJwks} or any jose key getter, built once and reused. */
  readonly keys: JWTVerifyGetKey;
  /** Checked after the signature: true when the jti is revoked (e.g. via creddy's revocation endpoint). */
  readonly isRevoked?: ((jti: string) => Promise<boolean>) | undefined;
}

/** Options of {@link creddyJwks}: how long the fetched key set is trusted. */
export interface CreddyJwksOptions {
  /**
   * How long a fetched JWKS is used before it is fetched again, in ms (default 5 minutes, creddy's
   * default `keys.jwks_max_age`). Set it to the server's `jwks_max_age` if that was changed.
   */
  readonly cacheMaxAge?: number | undefined;
  /** Minimum time between refetches triggered by an unknown kid, in ms (jose's default: 30 s). */
  readonly cooldownDuration?: number | undefined;
}

/** creddy's default `keys.jwks_max_age`, in ms. */
const DEFAULT_JWKS_MAX_AGE_MS = 5 * 60_000;

/**
 * A key getter for {@link verifyCreddyToken} that fetches the JWKS of a creddy issuer
 * (`<issuer>/.well-known/jwks.json`). It caches the set and refetches on an unknown kid after a
 * cooldown, so keys rotated in by the broker are picked up without a restart. jose does not read
 * Cache-Control, so the cache age defaults to 5 minutes, creddy's default `jwks_max_age`; pass the
 * server's value if it was changed (docs/keys.md). Create one per issuer and reuse it.
 *
 * @param issuer - The broker's issuer URL (a trailing slash is ignored).
 * @param fetchOptions - Cache age and cooldown.
 * @returns A jose `JWTVerifyGetKey` for {@link VerifyOptions.keys}.
 *
 * @example
 * ```ts
 * import { creddyJwks } from 'creddy/verify';
 *
 * // Once per process; the server runs with `keys.jwks_max_age: 10m`.
 * const keys = creddyJwks('https://creddy.example.com', { cacheMaxAge: 10 * 60_000 });
 * ```
 */
export function creddyJwks(issuer: string, fetchOptions: CreddyJwksOptions = {}): JWTVerifyGetKey {
  const { cacheMaxAge = DEFAULT_JWKS_MAX_AGE_MS, cooldownDuration } = fetchOptions;
  return createRemoteJWKSet(new URL(`${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`), {
    cacheMaxAge,
    ...(cooldownDuration === undefined ? {} : { cooldownDuration }),
  });
}

/**
 * Verifies a creddy token the way every resource server should: EdDSA only (no `none`, no
 * algorithm confusion), `typ: at+jwt`, the configured issuer (and audience), exp/nbf with
 * bounded skew (iat too: never in the future), a kid that is in the JWKS, and optionally the
 * deny-list. The token's format and length (16 KiB at most) are checked before any crypto.
 *
 * @param token - The compact JWT, without the `Bearer ` prefix.
 * @param options - Expected issuer and audience, the key source, clock skew, deny-list check.
 * @returns The verified claims.
 * @throws {@link CreddyError} `ERR_TOKEN_EXPIRED` past `exp`, `ERR_TOKEN_REVOKED` when
 * `isRevoked` says so, `ERR_TOKEN_INVALID` for anything else (format, signature, claims).
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
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !TOKEN_RE.test(token)) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'not a well-formed creddy token');
  }
  if (!token.split('.').every(isCanonicalBase64url)) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token is not canonical base64url (an altered copy of a token)');
  }
  const tolerance = options.clockTolerance ?? 60;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, options.keys, {
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      issuer: options.issuer,
      ...(options.audience ? { audience: options.audience as string | string[] } : {}),
      clockTolerance: tolerance,
      requiredClaims: ['iss', 'sub', 'exp', 'iat', 'jti', 'scope'],
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new CreddyError('ERR_TOKEN_EXPIRED', 'token has expired', { cause: err });
    const reason = err instanceof joseErrors.JOSEError ? `${err.code}: ${err.message}` : 'verification failed';
    throw new CreddyError('ERR_TOKEN_INVALID', `token rejected (${reason})`, { cause: err });
  }
  const claims = checkClaimTypes(payload);
  // jose checks iat only when maxTokenAge is set; a token "issued" in the future was not issued
  // by a broker whose clock is sane, so refuse it with the same skew as exp/nbf.
  if (claims.iat! > Math.floor(Date.now() / 1000) + tolerance) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (iat is in the future)');
  }
  if (options.isRevoked && (await options.isRevoked(claims.jti))) {
    throw new CreddyError('ERR_TOKEN_REVOKED', `token ${claims.jti} has been revoked`);
  }
  return claims;
}

/**
 * creddy's own claims, typed as the broker signs them: a token signed by a trusted key but with
 * `scope: 12` or `client_id: null` (a broker bug, or a key used elsewhere) is refused rather than
 * handed to the caller as a `CreddyClaims` it is not. jose has already typed iss/aud/exp/nbf/iat.
 */
function checkClaimTypes(payload: JWTPayload): CreddyClaims {
  for (const name of ['sub', 'jti', 'scope', 'backend', 'client_id'] as const) {
    if (typeof payload[name] !== 'string') throw new CreddyError('ERR_TOKEN_INVALID', `token rejected (claim ${name} must be a string)`);
  }
  if (!Number.isSafeInteger(payload.exp) || !Number.isSafeInteger(payload.iat)) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (exp and iat must be whole seconds)');
  }
  const metadata = payload['metadata'];
  if (
    metadata !== undefined &&
    (metadata === null ||
      typeof metadata !== 'object' ||
      Array.isArray(metadata) ||
      !Object.values(metadata).every((v) => typeof v === 'string'))
  ) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (claim metadata must be an object of strings)');
  }
  return payload as CreddyClaims;
}
