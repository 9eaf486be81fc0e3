/**
 * App JWT verification for the fake GitHub API (see ./github.ts).
 *
 * Mirrors the checks GitHub applies to a GitHub App's JWT, using GitHub's own
 * error wording so clients that pattern-match on it (@octokit/auth-app does,
 * to detect clock skew) behave exactly as they would in production.
 */
import { errors, importSPKI, jwtVerify } from 'jose';

/** GitHub's 401 messages for App JWT failures. */
export const JWT_ERRORS = {
  missing: 'Requires authentication',
  undecodable: 'A JSON web token could not be decoded',
  expired: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  tooFar: "'Expiration time' claim ('exp') is too far in the future",
  badIat: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
} as const;

/** GitHub caps an App JWT's lifetime at 10 minutes. */
const MAX_LIFETIME_S = 600;
/**
 * Clock-skew allowance. @octokit/auth-app backdates iat by 30 s and sets
 * exp = iat + 600 (i.e. now + 570), which must pass; anything further out fails.
 */
const SKEW_S = 60;

/**
 * Checks an `Authorization` header carrying an App JWT.
 * Resolves to undefined when valid, otherwise to the 401 message to return.
 */
export type AppJwtVerifier = (authorization: string | undefined) => Promise<string | undefined>;

/** Builds a verifier bound to one App's id (expected `iss`) and SPKI public key. */
export async function createAppJwtVerifier(appId: number | string, publicKeyPem: string): Promise<AppJwtVerifier> {
  // Importing as RS256 up front fails fast on a bad PEM or a non-RSA key.
  const key = await importSPKI(publicKeyPem, 'RS256');
  const expectedIss = String(appId);

  return async (authorization) => {
    if (authorization === undefined) return JWT_ERRORS.missing;
    const jwt = /^bearer\s+(\S+)$/i.exec(authorization)?.[1];
    // An installation token (ghs_…) on an App endpoint is just an undecodable JWT to GitHub.
    if (jwt === undefined || jwt.startsWith('ghs_')) return JWT_ERRORS.undecodable;

    let payload: Record<string, unknown>;
    try {
      // Pinning algorithms rejects alg "none" and HS256-with-the-public-key confusion.
      ({ payload } = await jwtVerify(jwt, key, { algorithms: ['RS256'] }));
    } catch (err) {
      return err instanceof errors.JWTExpired ? JWT_ERRORS.expired : JWT_ERRORS.undecodable;
    }

    const now = Math.floor(Date.now() / 1000);
    const { iat, exp, iss } = payload;
    // GitHub requires integer seconds and an iat that is not in the future.
    if (!Number.isInteger(iat) || (iat as number) > now + SKEW_S) return JWT_ERRORS.badIat;
    if (!Number.isInteger(exp)) return JWT_ERRORS.expired;
    if ((exp as number) - now > MAX_LIFETIME_S + SKEW_S) return JWT_ERRORS.tooFar;
    // GitHub accepts iss as the integer App id or its string form; compare as strings.
    // (jose's `issuer` option would reject the integer form octokit sends.)
    if ((typeof iss !== 'string' && typeof iss !== 'number') || String(iss) !== expectedIss) {
      return JWT_ERRORS.undecodable;
    }
    return undefined;
  };
}
