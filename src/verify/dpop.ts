import { compactVerify, importJWK } from 'jose';
import { CreddyError } from '../errors.js';
import { decodeJsonSegment, isCanonicalBase64url } from './base64url.js';
import { htuOf } from './htu.js';
import type { ReplayCache } from './replay-cache.js';
import { jwkThumbprint, type PublicJwk, sha256Base64url } from './thumbprint.js';

/** Proof algorithms accepted: asymmetric only (RFC 9449 §4.2), with the key type each one needs. */
export const DPOP_ALGORITHMS = ['EdDSA', 'ES256'] as const;
/** A DPoP proof is a header, a handful of claims and a signature: anything longer is not one. */
const MAX_PROOF_LENGTH = 4096;
const PROOF_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Members that only a private JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The request a proof must match. */
export interface DpopRequest {
  /** The compact JWS from the request's `DPoP` header. */
  readonly proof: string;
  /** The request's HTTP method, e.g. `GET`. */
  readonly method: string;
  /** The request's full URL; query and fragment are ignored (RFC 9449 §4.3). */
  readonly url: string;
}

/** What a proof is checked against besides the request. */
export interface DpopChecks {
  /**
   * The access token presented with the proof: its hash must be the proof's `ath`. `null`: the
   * request carries no token (issuance, RFC 9449 §5), so the proof must not carry `ath`.
   */
  readonly accessToken?: string | null | undefined;
  /** The token's `cnf.jkt`: the proof's key must have this thumbprint. */
  readonly jkt?: string | undefined;
  /** How old a proof may be, in seconds (default 60). */
  readonly maxAge: number;
  /** Allowed clock skew in seconds, both ways. */
  readonly clockTolerance: number;
  /** Refuses a proof whose jti was seen before; the id is stored until the proof is too old anyway. */
  readonly replay: ReplayCache;
  /** The clock, in ms since the epoch. */
  readonly now: () => number;
}

/** A valid proof: its key's thumbprint, and its jti. */
export interface VerifiedDpopProof {
  readonly jkt: string;
  readonly jti: string;
}

/** `details.why` says which check failed (replay, htu, iat…): the denial's audit row keeps it. */
const invalid = (why: string, cause?: unknown) =>
  new CreddyError('ERR_DPOP_INVALID', `DPoP proof rejected (${why})`, { details: { why }, ...(cause === undefined ? {} : { cause }) });

/**
 * Verifies a DPoP proof (RFC 9449 §4.3): `typ: dpop+jwt`, an asymmetric `alg` (EdDSA, ES256)
 * whose public `jwk` is embedded in the header and holds no private member, a valid signature by
 * that key, `htm` equal to the method, `htu` equal to the URL without query and fragment, `iat`
 * within `maxAge` (and clock skew), `ath` = base64url(SHA-256(access token)) when a token is
 * presented, the key's RFC 7638 thumbprint equal to the token's `cnf.jkt`, and a `jti` never
 * seen before. Every segment must be canonical base64url. The replay check runs last, so only
 * proofs that pass everything else take room in the cache.
 *
 * @internal
 */
export async function verifyDpopProof(request: DpopRequest, checks: DpopChecks): Promise<VerifiedDpopProof> {
  const { proof } = request;
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH || !PROOF_RE.test(proof)) throw invalid('not a compact JWS');
  const [h, p] = proof.split('.') as [string, string, string];
  if (!proof.split('.').every(isCanonicalBase64url)) throw invalid('not canonical base64url');
  const header = decodeJsonSegment(h);
  if (!header) throw invalid('header is not a JSON object');
  if (header['typ'] !== 'dpop+jwt') throw invalid('typ must be dpop+jwt');
  const alg = header['alg'];
  if (!DPOP_ALGORITHMS.includes(alg as (typeof DPOP_ALGORITHMS)[number])) throw invalid(`alg must be one of ${DPOP_ALGORITHMS.join(', ')}`);
  const jwk = publicJwk(header['jwk'], alg as (typeof DPOP_ALGORITHMS)[number]);

  try {
    await compactVerify(proof, await importJWK(jwk, alg as string), { algorithms: [alg as string] });
  } catch (err) {
    throw invalid('bad signature or key', err);
  }
  const claims = decodeJsonSegment(p);
  if (!claims) throw invalid('payload is not a JSON object');
  const { jti, htm, htu, iat, ath } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalid('jti must be a string of 1 to 256 characters');
  if (htm !== request.method) throw invalid(`htm must be ${request.method}`);
  if (typeof htu !== 'string' || htuOf(htu) === undefined || htuOf(htu) !== htuOf(request.url))
    throw invalid('htu does not match the request URL');
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat)) throw invalid('iat must be whole seconds');
  const nowS = Math.floor(checks.now() / 1000);
  if (iat > nowS + checks.clockTolerance) throw invalid('iat is in the future');
  if (iat < nowS - checks.maxAge - checks.clockTolerance) throw invalid('proof is too old');
  if (checks.accessToken === null && ath !== undefined) throw invalid('ath is for requests that present a token; this one does not');
  if (typeof checks.accessToken === 'string' && ath !== (await sha256Base64url(checks.accessToken))) {
    throw invalid('ath does not match the access token');
  }
  const jkt = await jwkThumbprint(jwk);
  if (checks.jkt !== undefined && jkt !== checks.jkt) throw invalid("the proof's key is not the one the token is bound to (cnf.jkt)");
  // Keep the id until no clock reading can pass the window above again. The window is in whole
  // seconds: a proof passes at time t (ms) while iat ≥ floor(t/1000) − maxAge − tol, that is
  // while t < (iat + maxAge + tol + 1)·1000. It passed now, so iat ≤ nowS + tol, and every t at
  // which it can pass again is < (nowS + maxAge + 2·tol + 1)·1000 = keepUntil. A cache holds an
  // id while keepUntil > t, so it refuses the replay at every such t. (`now + (maxAge + 2·tol)·1000`
  // fell short by up to a second: the fraction of nowS.) The bound is taken from nowS rather
  // than from this proof's iat, which gives the same guarantee and keeps expiries close to the
  // order ids arrive in (a shared cache, e.g. Redis, expires each id on its own either way).
  const keepUntil = (nowS + checks.maxAge + 2 * checks.clockTolerance + 1) * 1000;
  if (!(await checks.replay.use(`${jkt}:${jti}`, keepUntil))) throw invalid('jti was already used (replay)');
  return { jkt, jti };
}

/** The header's `jwk`, checked to be a public key of the type `alg` needs, reduced to its public members. */
function publicJwk(value: unknown, alg: (typeof DPOP_ALGORITHMS)[number]): PublicJwk {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('header must embed the public key as jwk');
  const jwk = value as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) throw invalid('jwk must not contain a private key');
  const coordinate = (name: string) => {
    const c = jwk[name];
    if (typeof c !== 'string' || c.length !== 43 || !isCanonicalBase64url(c)) throw invalid(`jwk.${name} must be 32 bytes, base64url`);
    return c;
  };
  if (alg === 'EdDSA') {
    if (jwk['kty'] !== 'OKP' || jwk['crv'] !== 'Ed25519') throw invalid('EdDSA proofs need an OKP Ed25519 jwk');
    return { kty: 'OKP', crv: 'Ed25519', x: coordinate('x') };
  }
  if (jwk['kty'] !== 'EC' || jwk['crv'] !== 'P-256') throw invalid('ES256 proofs need an EC P-256 jwk');
  return { kty: 'EC', crv: 'P-256', x: coordinate('x'), y: coordinate('y') };
}
