import { compactVerify, importJWK } from 'jose';
import { CreddyError } from '../errors.js';
import { decodeJsonSegment, isCanonicalBase64url } from './base64url.js';
import type { ReplayCache } from './replay-cache.js';
import { type Ed25519PublicJwk, jwkThumbprint } from './thumbprint.js';

const MAX_ASSERTION_LENGTH = 4096;
const ASSERTION_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/;
/** The `typ`s a client assertion may carry; an access token or a DPoP proof is not one. */
const ASSERTION_TYPES = new Set([undefined, 'JWT', 'client-authentication+jwt']);

/** What a client assertion is checked against. */
export interface ClientAssertionChecks {
  /** Accepted `aud` values: the broker's issuer (and its token endpoint, where it is presented there). */
  readonly audience: readonly string[];
  /**
   * The agent's registered Ed25519 public key(s), by agent name (and the header's `kid`, when it
   * has one); undefined or empty when there is none. An agent rotating its key holds two.
   */
  readonly publicKey: (agent: string, kid: string | undefined) => Promise<PublicKeys> | PublicKeys;
  /** Remembers jtis until the assertion expires, so each assertion authenticates once. */
  readonly replay: ReplayCache;
  /** The longest lifetime accepted, `exp − now`, in seconds (default 60). */
  readonly maxLifetime?: number | undefined;
  /** Allowed clock skew in seconds (default 5). */
  readonly clockTolerance?: number | undefined;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/** What {@link ClientAssertionChecks.publicKey} returns. */
type PublicKeys = Ed25519PublicJwk | readonly Ed25519PublicJwk[] | undefined;

/** A verified assertion: who it authenticates, with which key, and until when. */
export interface VerifiedClientAssertion {
  readonly agent: string;
  readonly jti: string;
  readonly exp: number;
  /** RFC 7638 thumbprint of the registered key that verified the signature. */
  readonly jkt: string;
}

const refused = (why: string, cause?: unknown) =>
  new CreddyError('ERR_UNAUTHENTICATED', `client assertion rejected (${why})`, cause === undefined ? {} : { cause });

/**
 * Verifies an RFC 7523 client assertion signed by a key-pair agent: EdDSA only, `iss` = `sub` =
 * the agent, `aud` one of the accepted audiences, `exp` in the future but at most `maxLifetime`
 * away, `jti` never seen before, and a signature by a public key registered for that agent (the
 * one whose thumbprint is the header's `kid`, when it names one). Every segment must be canonical
 * base64url; the replay check runs last. An unknown agent and a wrong key are refused alike.
 */
export async function verifyClientAssertion(assertion: string, checks: ClientAssertionChecks): Promise<VerifiedClientAssertion> {
  if (typeof assertion !== 'string' || assertion.length > MAX_ASSERTION_LENGTH || !ASSERTION_RE.test(assertion)) {
    throw refused('not a compact EdDSA JWS');
  }
  if (!assertion.split('.').every(isCanonicalBase64url)) throw refused('not canonical base64url');
  const [h, p] = assertion.split('.') as [string, string, string];
  const header = decodeJsonSegment(h);
  const claims = decodeJsonSegment(p);
  if (!header || !claims) throw refused('header and payload must be JSON objects');
  if (header['alg'] !== 'EdDSA') throw refused('alg must be EdDSA');
  if (!ASSERTION_TYPES.has(header['typ'] as string | undefined)) throw refused('typ is not that of a client assertion');
  const { iss, sub, aud, exp, jti, iat, nbf } = claims;
  if (typeof iss !== 'string' || iss.length === 0 || sub !== iss) throw refused('iss and sub must both name the agent');
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => typeof a === 'string' && checks.audience.includes(a))) throw refused('aud is not this broker');
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw refused('jti must be a string of 1 to 256 characters');
  if (!Number.isSafeInteger(exp)) throw refused('exp must be whole seconds');
  const tolerance = checks.clockTolerance ?? 5;
  const nowMs = (checks.now ?? Date.now)();
  const nowS = Math.floor(nowMs / 1000);
  if ((exp as number) <= nowS - tolerance) throw refused('expired');
  if ((exp as number) > nowS + (checks.maxLifetime ?? 60) + tolerance) throw refused('exp is too far ahead');
  for (const [name, value] of [
    ['iat', iat],
    ['nbf', nbf],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) > nowS + tolerance)) {
      throw refused(`${name} must be whole seconds, not in the future`);
    }
  }

  const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;
  const found = await checks.publicKey(iss, kid);
  const registered: readonly Ed25519PublicJwk[] = found === undefined ? [] : 'x' in found ? [found] : found;
  let jkt: string | undefined;
  let failure: unknown;
  for (const jwk of registered) {
    const thumbprint = await jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
    if (kid !== undefined && kid !== thumbprint) continue;
    try {
      await compactVerify(assertion, await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA'), { algorithms: ['EdDSA'] });
      jkt = thumbprint;
      break;
    } catch (err) {
      failure = err;
    }
  }
  // One answer for an unknown agent, a kid it does not hold and a bad signature: no probing for names.
  if (jkt === undefined) throw refused('bad signature: no key registered for this agent verifies it', failure);
  if (!(await checks.replay.use(`${iss}:${jti}`, ((exp as number) + tolerance) * 1000))) throw refused('jti was already used (replay)');
  return { agent: iss, jti, exp: exp as number, jkt };
}
