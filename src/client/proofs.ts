import { CreddyError } from '../errors.js';
import { encodeBase64url } from '../verify/base64url.js';
import { htuOf } from '../verify/htu.js';
import { sha256Base64url } from '../verify/thumbprint.js';
import type { AgentSigner } from './agent-key.js';

/** Lifetime of a client assertion: RFC 7523 wants it short, the broker accepts at most 60 s. */
export const ASSERTION_LIFETIME_S = 60;

/** A fresh 128-bit identifier from `crypto.getRandomValues`. */
const freshJti = (): string => encodeBase64url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
const nowSeconds = (now: () => number): number => Math.floor(now() / 1000);
/** Methods fetch upper-cases before sending (Fetch standard, "normalize a method"); others go out as written. */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
/** The method as it goes on the wire, which is what the server compares `htm` with. */
export const methodAsSent = (method: string): string => (NORMALISED_METHODS.has(method.toUpperCase()) ? method.toUpperCase() : method);

/** Input of {@link createClientAssertion}. */
export interface ClientAssertionInput {
  /** The agent's name: both `iss` and `sub`. */
  readonly agent: string;
  /** The broker's issuer URL (`aud`). */
  readonly audience: string;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/**
 * A client assertion (RFC 7523 §2.2, §3) that authenticates a key-pair agent for one request:
 * `iss` = `sub` = the agent, `aud` = the broker's issuer, `iat` now, `exp` 60 s later and a fresh
 * random `jti` (the broker accepts each one once). The header carries `kid`, the key's RFC 7638
 * thumbprint. Sent as `Authorization: Bearer <assertion>` or as `client_assertion`.
 *
 * @param signer - The agent's key: an {@link AgentSigner}, as `createAgentSigner` makes it.
 * @param input - Agent name and audience.
 * @returns The compact JWS.
 *
 * @example
 * ```ts
 * import { createAgentSigner, createClientAssertion, generateAgentKey } from 'creddy/client';
 *
 * const signer = await createAgentSigner((await generateAgentKey()).privateJwk);
 * const assertion = await createClientAssertion(signer, { agent: 'deploy-bot', audience: 'https://creddy.example.com' });
 * console.log(`Authorization: Bearer ${assertion}`);
 * ```
 */
export async function createClientAssertion(signer: AgentSigner, input: ClientAssertionInput): Promise<string> {
  if (!input.agent || !input.audience) throw new CreddyError('ERR_USAGE', 'a client assertion needs the agent name and the broker issuer');
  const iat = nowSeconds(input.now ?? Date.now);
  return signer.sign(
    { typ: 'JWT', kid: signer.jkt },
    { iss: input.agent, sub: input.agent, aud: input.audience, iat, exp: iat + ASSERTION_LIFETIME_S, jti: freshJti() },
  );
}

/** Input of {@link createDpopProof}. */
export interface DpopProofInput {
  /** The request's method, e.g. `GET`. */
  readonly method: string;
  /** The request's URL; query and fragment are left out of `htu`. */
  readonly url: string;
  /** The DPoP-bound access token the request carries; its hash goes into `ath`. */
  readonly accessToken?: string | undefined;
  /** A nonce the server asked for with `DPoP-Nonce`. */
  readonly nonce?: string | undefined;
  /** The clock, in ms since the epoch (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/**
 * A DPoP proof (RFC 9449 §4.2) for one HTTP request: header `typ: dpop+jwt`, `alg: EdDSA` and
 * the public `jwk`; claims `jti` (fresh), `htm`, `htu` (the URL without query and fragment),
 * `iat`, and `ath` = base64url(SHA-256(access token)) when a token is sent with it. Make a new
 * proof for every request: a resource server refuses a jti it has seen.
 *
 * @param signer - The key the token is (or will be) bound to.
 * @param input - Method, URL, and the access token if there is one.
 * @returns The compact JWS for the `DPoP` header.
 *
 * @example
 * ```ts
 * import { createAgentSigner, createDpopProof, generateAgentKey } from 'creddy/client';
 *
 * const signer = await createAgentSigner((await generateAgentKey()).privateJwk);
 * const accessToken = 'eyJ…'; // a token bound to signer.jkt
 * const proof = await createDpopProof(signer, { method: 'GET', url: 'https://api.internal/files?x=1', accessToken });
 * await fetch('https://api.internal/files?x=1', { headers: { authorization: `DPoP ${accessToken}`, dpop: proof } });
 * ```
 */
export async function createDpopProof(signer: AgentSigner, input: DpopProofInput): Promise<string> {
  const htu = htuOf(input.url);
  if (htu === undefined) throw new CreddyError('ERR_USAGE', `DPoP proof: ${JSON.stringify(input.url)} is not an absolute URL`);
  return signer.sign(
    { typ: 'dpop+jwt', jwk: signer.publicJwk },
    {
      jti: freshJti(),
      htm: methodAsSent(input.method),
      htu,
      iat: nowSeconds(input.now ?? Date.now),
      ...(input.accessToken === undefined ? {} : { ath: await sha256Base64url(input.accessToken) }),
      ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
    },
  );
}
