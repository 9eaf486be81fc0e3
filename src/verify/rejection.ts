import { errors as joseErrors } from 'jose';
import { CreddyError } from '../errors.js';
import { decodeJsonSegment } from './base64url.js';

/** What the token was checked against, for the message. */
export interface Expected {
  readonly issuer: string;
  readonly audience?: string | readonly string[] | undefined;
}

/**
 * jose's refusal of a token as creddy's `ERR_TOKEN_INVALID`, in words a resource server's operator
 * (and the caller, who gets the message in a 401) can act on: what was expected and what came
 * (`expected aud "demo", got "other"`), never jose's own error code. `details.reason` names the
 * check (`aud`, `iss`, `typ`, `alg`, `signature`, `nbf`, `missing_claim`, `claim_type`,
 * `unknown_kid`, `keys`, `malformed`). Values from the token are quoted as JSON (control
 * characters escaped) and cut short; the token itself, its signature and any key never appear.
 */
export function rejection(err: unknown, token: string, expected: Expected): CreddyError {
  const invalid = (why: string, reason: string) =>
    new CreddyError('ERR_TOKEN_INVALID', `token rejected (${why})`, { cause: err, details: { reason } });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    const payload = err.payload as Record<string, unknown>;
    if (claim === 'typ') return invalid(`expected typ "at+jwt", got ${shown(headerOf(token)?.['typ'])}`, 'typ');
    if (claim === 'iss') return invalid(`expected iss ${JSON.stringify(expected.issuer)}, got ${shown(payload['iss'])}`, 'iss');
    if (claim === 'aud' && expected.audience !== undefined) {
      const wanted = typeof expected.audience === 'string' ? [expected.audience] : expected.audience;
      return invalid(`expected aud ${wanted.map((a) => JSON.stringify(a)).join(' or ')}, got ${shown(payload['aud'])}`, 'aud');
    }
    if (reason === 'missing') return invalid(`claim ${claim} is missing`, 'missing_claim');
    if (reason === 'invalid') return invalid(`claim ${claim} must be a number`, 'claim_type');
    if (claim === 'nbf') return invalid('not valid yet: nbf is in the future', 'nbf');
    return invalid(`claim ${claim} failed its check`, 'claim');
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return invalid(`alg ${shown(headerOf(token)?.['alg'])} is not allowed: EdDSA only`, 'alg');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('the signature does not verify', 'signature');
  // From a jose key source given to verifyCreddyToken (creddy's own cache throws CreddyErrors).
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    return invalid(`no key with kid ${shown(headerOf(token)?.['kid'])} in the issuer's JWKS`, 'unknown_kid');
  }
  if (err instanceof joseErrors.JOSEError && err.code.startsWith('ERR_JWKS_')) return invalid(`key lookup failed: ${err.message}`, 'keys');
  // Anything else jose refuses is a malformed token: its message (without its code) says what.
  const message = err instanceof joseErrors.JOSEError ? err.message : 'verification failed';
  return invalid(`malformed: ${message.length > 200 ? `${message.slice(0, 200)}…` : message}`, 'malformed');
}

/**
 * A value from the token, as JSON, cut at 100 characters; `none` when it is absent. Token values
 * are the caller's (a kid may be 256 characters of anything): quoted, they cannot pass for words
 * of the message.
 * @internal
 */
export function shown(value: unknown): string {
  if (value === undefined) return 'none';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function headerOf(token: string): Record<string, unknown> | undefined {
  return decodeJsonSegment(token.split('.')[0] ?? '');
}
