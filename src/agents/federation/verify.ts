import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { FederationRule } from '../../config/types.js';
import type { ErrorCode } from '../../errors.js';
import { CreddyError } from '../../errors.js';
import type { IssuerKeys } from './issuer-keys.js';

/** Why verification failed, in the terms the client, the audit row and `explain` use. */
export interface VerifyFailure {
  readonly code: ErrorCode;
  /** A short, stable reason: `signature`, `alg`, `unknown_kid`, `aud`, `exp`, `nbf`, `iat`, `typ`, `malformed`. */
  readonly reason: string;
  readonly message: string;
}

/** Thrown by verifyIdToken; the caller turns it into a FederationDenied with its diagnosis. */
export class VerifyError extends Error {
  constructor(readonly failure: VerifyFailure) {
    super(failure.message);
  }
}

/**
 * Verifies an ID token of one issuer with jose: signature over the issuer's keys with the
 * algorithms pinned, `iss` exact, `aud` exactly one of the rules' audiences, `exp` required,
 * `exp`/`nbf`/`iat` within the clock skew, and a `typ` that is not `at+jwt` (an access token —
 * creddy's own included — is not an identity). An unknown kid refetches the keys once, within
 * the issuer's cooldown. ERR_ISSUER_UNAVAILABLE (keys cannot be had) passes through.
 */
export async function verifyIdToken(
  token: string,
  rules: readonly FederationRule[],
  keys: IssuerKeys,
  options: { readonly now: number; readonly clockSkew: number },
): Promise<JWTPayload> {
  const [first] = rules;
  if (!first) throw new CreddyError('ERR_INTERNAL', 'verifyIdToken needs the rules of the token issuer');
  const verifyOptions = {
    issuer: first.issuer,
    audience: [...new Set(rules.map((r) => r.audience))],
    algorithms: [...first.algorithms],
    clockTolerance: options.clockSkew,
    currentDate: new Date(options.now),
    requiredClaims: ['exp'],
  };
  let payload: JWTPayload;
  try {
    const typ = decodeProtectedHeader(token).typ;
    if (typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ)) {
      throw new VerifyError({ code: 'ERR_ID_TOKEN_INVALID', reason: 'typ', message: 'an access token (typ at+jwt) is not an ID token' });
    }
    try {
      payload = (await jwtVerify(token, await keys.keys(), verifyOptions)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || !(await keys.refreshForUnknownKid())) throw err;
      payload = (await jwtVerify(token, await keys.keys(), verifyOptions)).payload;
    }
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    const failure = joseFailure(err);
    if (failure) throw new VerifyError(failure);
    throw err;
  }
  // jose checks iat only against a maximum age; one from the future is as wrong as a future nbf.
  if (typeof payload.iat === 'number' && payload.iat > options.now / 1000 + options.clockSkew) {
    throw new VerifyError({
      code: 'ERR_ID_TOKEN_EXPIRED',
      reason: 'iat',
      message: 'ID token issued in the future (iat beyond the clock skew)',
    });
  }
  return payload;
}

/** Maps jose's errors to creddy's refusal reasons; undefined for anything else (passed through). */
export function joseFailure(err: unknown): VerifyFailure | undefined {
  const invalid = (reason: string, message: string): VerifyFailure => ({ code: 'ERR_ID_TOKEN_INVALID', reason, message });
  if (err instanceof errors.JWTExpired) return { code: 'ERR_ID_TOKEN_EXPIRED', reason: 'exp', message: 'ID token expired' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return { code: 'ERR_ID_TOKEN_EXPIRED', reason: 'nbf', message: 'ID token not yet valid (nbf)' };
    if (err.claim === 'aud') return invalid('aud', 'ID token audience is not one a federation rule accepts');
    if (err.claim === 'iss') return invalid('iss', 'ID token issuer mismatch');
    return invalid(err.claim, `ID token claim ${err.claim} is ${err.reason === 'missing' ? 'missing' : 'invalid'}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('alg', 'ID token algorithm not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('signature', 'ID token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('unknown_kid', "ID token key id is not among the issuer's keys");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('kid', 'ID token names no kid and several keys could match');
  if (err instanceof errors.JOSEError) return invalid('malformed', 'ID token is malformed');
  return undefined;
}
