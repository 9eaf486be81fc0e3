import { type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { CreddyError } from '../errors.js';
import { isCanonicalBase64url } from './base64url.js';
import { rejection } from './rejection.js';

/**
 * Compact JWS size cap, checked before any crypto or JSON parsing. It must cover the largest
 * token the broker signs: 64 scopes of up to 128 characters (~8.3 KB of `scope`), metadata capped
 * at 2 KiB serialised, and the fixed claims — about 11 KB of JSON, ~14.8 KB base64url. 16 KiB
 * leaves room for a long issuer and audience.
 */
export const MAX_TOKEN_LENGTH = 16_384;
/** Shape of an EdDSA compact JWS: the payload is bounded by MAX_TOKEN_LENGTH, tested first. */
const TOKEN_RE = /^[A-Za-z0-9_-]{10,2048}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{86}$/;
/** An RFC 7638 SHA-256 thumbprint: 32 bytes, base64url. */
const JKT_RE = /^[A-Za-z0-9_-]{43}$/;

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
  /**
   * Confirmation (RFC 9449 §6): present when the token is DPoP-bound; `jkt` is the RFC 7638
   * thumbprint of the key that must sign a DPoP proof on every request that presents it.
   */
  readonly cnf?: { readonly jkt: string };
}

/**
 * What every creddy access token is checked against.
 *
 * @internal
 */
export interface AccessTokenChecks {
  readonly issuer: string;
  readonly audience?: string | readonly string[] | undefined;
  /** Allowed clock skew in seconds for exp/nbf/iat. */
  readonly clockTolerance: number;
  readonly keys: JWTVerifyGetKey;
  /** The clock, in ms since the epoch. */
  readonly now: () => number;
}

/**
 * The checks shared by `verifyCreddyToken` and `createVerifier`: format and length before any
 * crypto, canonical base64url, EdDSA only, `typ: at+jwt`, issuer, audience, exp/nbf/iat with
 * bounded skew, a kid found in the issuer's JWKS, and the claims typed as the broker signs them.
 *
 * @internal
 */
export async function verifyAccessToken(token: string, checks: AccessTokenChecks): Promise<CreddyClaims> {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !TOKEN_RE.test(token)) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'not a well-formed creddy token');
  }
  if (!token.split('.').every(isCanonicalBase64url)) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token is not canonical base64url (an altered copy of a token)');
  }
  const nowMs = checks.now();
  const issuer = issuerOf(checks.issuer);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, checks.keys, {
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      issuer,
      ...(checks.audience ? { audience: checks.audience as string | string[] } : {}),
      clockTolerance: checks.clockTolerance,
      currentDate: new Date(nowMs),
      requiredClaims: ['iss', 'sub', 'exp', 'iat', 'jti', 'scope'],
    }));
  } catch (err) {
    if (err instanceof CreddyError) throw err; // from the key source: unknown kid, JWKS unreachable
    if (err instanceof joseErrors.JWTExpired) throw new CreddyError('ERR_TOKEN_EXPIRED', 'token has expired', { cause: err });
    throw rejection(err, token, { issuer, audience: checks.audience });
  }
  const claims = checkClaimTypes(payload);
  // jose checks iat only when maxTokenAge is set; a token "issued" in the future was not issued
  // by a broker whose clock is sane, so refuse it with the same skew as exp/nbf.
  if (claims.iat! > Math.floor(nowMs / 1000) + checks.clockTolerance) {
    throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (iat is in the future)');
  }
  return claims;
}

/**
 * The configured issuer as the broker writes it: without trailing slashes (its `issuer:` setting
 * may not have one), as the client and `creddyJwks` read a broker URL. Only the configuration is
 * normalised; the token's `iss` must still equal it byte for byte.
 */
function issuerOf(configured: string): string {
  const issuer = typeof configured === 'string' ? configured.replace(/\/+$/, '') : '';
  // jose checks no `iss` at all without one: a JavaScript caller that left it out must not get that.
  if (issuer === '') throw new CreddyError('ERR_USAGE', "issuer is required: the broker's issuer URL");
  return issuer;
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
  const cnf = payload['cnf'];
  const jkt = cnf !== null && typeof cnf === 'object' ? (cnf as { jkt?: unknown }).jkt : undefined;
  if (cnf !== undefined && !(typeof jkt === 'string' && JKT_RE.test(jkt))) {
    // A confirmation the verifier cannot check must not be ignored: the token would act as a bearer token.
    throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (claim cnf must hold a jkt thumbprint)');
  }
  return payload as CreddyClaims;
}
