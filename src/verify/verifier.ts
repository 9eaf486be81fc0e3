import { CreddyError } from '../errors.js';
import { type CreddyClaims, verifyAccessToken } from './access-token.js';
import { type DpopRequest, verifyDpopProof } from './dpop.js';
import { createJwksCache } from './jwks.js';
import { createReplayCache, type ReplayCache } from './replay-cache.js';
import { missingScopes } from './scopes.js';

/** Options of {@link createVerifier}. Durations are in seconds unless named `…Ms`. */
export interface VerifierOptions {
  /** Expected `iss`: the broker's issuer URL. */
  readonly issuer: string;
  /** Expected `aud`: this service (a backend's `audience`, or the backend name). Required: a token for another service must not pass here. */
  readonly audience: string | readonly string[];
  /** Scopes every token must grant, all of them (a granted `files:*` covers `files:read`). */
  readonly scopes?: readonly string[] | undefined;
  /** Allowed clock skew for exp/nbf/iat (default 60, at most 300). */
  readonly clockTolerance?: number | undefined;
  /**
   * Ask the broker, after the offline checks, whether the token was revoked: `true` uses its
   * public deny-list (`GET /v1/revocations/{jti}`); a function decides itself (true = active).
   * One request per verification: use it where immediate revocation matters more than latency.
   */
  readonly introspect?: boolean | ((claims: CreddyClaims, token: string) => Promise<boolean>) | undefined;
  /** Where to reach the broker (JWKS, deny-list) when it is not at `issuer`, e.g. an internal address. */
  readonly url?: string | undefined;
  /** The `fetch` to use for the JWKS and the deny-list (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  /** JWKS cache: refetch on an unknown kid at most once per `cooldownMs` (default 30 000); cap the server's max-age at `maxCacheAgeMs`. */
  readonly jwks?: { readonly cooldownMs?: number | undefined; readonly maxCacheAgeMs?: number | undefined } | undefined;
  /**
   * DPoP (RFC 9449): proofs older than `maxAge` (default 60) or dated more than `clockTolerance`
   * (default 10) ahead are refused; `replay` remembers proof ids (default: in memory, this
   * process only; share one across instances behind a load balancer).
   */
  readonly dpop?:
    | { readonly maxAge?: number | undefined; readonly clockTolerance?: number | undefined; readonly replay?: ReplayCache | undefined }
    | undefined;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  readonly now?: (() => number) | undefined;
}

/** Per-request input of {@link Verifier.verify}. */
export interface VerifyRequest {
  /** The request's `DPoP` header with its method and full URL; required for a DPoP-bound token. */
  readonly dpop?: DpopRequest | undefined;
  /** Scopes this request needs in addition to the verifier's `scopes`. */
  readonly scopes?: readonly string[] | undefined;
}

/** A verifier for one issuer and audience; it owns a JWKS cache and a DPoP replay cache. */
export interface Verifier {
  /**
   * Verifies an access token as presented on one request and returns its claims.
   *
   * @throws {@link CreddyError} `ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED`, `ERR_TOKEN_REVOKED`,
   * `ERR_DPOP_INVALID` (401); `ERR_INSUFFICIENT_SCOPE` (403); `ERR_ISSUER_UNAVAILABLE` (503).
   */
  verify(token: string, request?: VerifyRequest): Promise<CreddyClaims>;
}

/**
 * Creates a verifier for creddy access tokens: EdDSA only and `typ: at+jwt` (pinned, never read
 * from the token), `iss`, `aud`, exp/nbf/iat with bounded skew, every required scope, and a JWKS
 * cache that follows the broker's `Cache-Control: max-age` and ETag, so key rotations never
 * reject a valid token. A DPoP-bound token (`cnf.jkt`) passes only with a valid proof from its
 * key for this very request (method, URL, token hash, fresh and unused). Options are checked here;
 * nothing is fetched until the first `verify`. Create one per issuer and audience and reuse it.
 *
 * @param options - Issuer, audience, required scopes, skew, revocation check, DPoP settings.
 * @returns A {@link Verifier}.
 * @throws {@link CreddyError} `ERR_USAGE` for a malformed option.
 *
 * @example
 * ```ts
 * import { createVerifier, isCreddyError } from 'creddy/verify';
 *
 * const verifier = createVerifier({ issuer: 'https://creddy.example.com', audience: 'https://api.internal', scopes: ['files:read'] });
 *
 * export async function handle(request: Request): Promise<Response> {
 *   const [scheme, token = ''] = (request.headers.get('authorization') ?? '').split(' ');
 *   const proof = request.headers.get('dpop');
 *   try {
 *     const dpop = scheme === 'DPoP' && proof ? { proof, method: request.method, url: request.url } : undefined;
 *     const claims = await verifier.verify(token, { dpop });
 *     return new Response(`hello ${claims.sub}`);
 *   } catch (err) {
 *     if (isCreddyError(err)) return new Response(err.code, { status: err.status });
 *     throw err;
 *   }
 * }
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = httpUrl(options.issuer, 'issuer');
  const base = httpUrl(options.url ?? options.issuer, 'url').replace(/\/+$/, '');
  const audiences = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audiences.length === 0 || !audiences.every((a) => typeof a === 'string' && a.length > 0)) {
    throw new CreddyError('ERR_USAGE', 'createVerifier: audience must name this service');
  }
  const required = checkScopes(options.scopes ?? [], 'scopes');
  const clockTolerance = seconds(options.clockTolerance, 60, 300, 'clockTolerance');
  const dpopMaxAge = seconds(options.dpop?.maxAge, 60, 3600, 'dpop.maxAge');
  const dpopTolerance = seconds(options.dpop?.clockTolerance, 10, 300, 'dpop.clockTolerance');
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const replay = options.dpop?.replay ?? createReplayCache({ now });
  const keys = createJwksCache({
    url: `${base}/.well-known/jwks.json`,
    fetch: doFetch,
    cooldown: options.jwks?.cooldownMs,
    maxCacheAge: options.jwks?.maxCacheAgeMs,
    now,
  });
  const isActive =
    typeof options.introspect === 'function'
      ? options.introspect
      : options.introspect
        ? (claims: CreddyClaims) => notRevoked(doFetch, base, claims.jti)
        : undefined;

  return {
    async verify(token, request = {}) {
      const claims = await verifyAccessToken(token, { issuer, audience: audiences, clockTolerance, keys, now });
      if (claims.cnf) {
        if (!request.dpop) {
          // Thrown only once everything else about the token checked out: `proof_required` tells a
          // caller (creddy verify) that the token is sound and bound to this key.
          throw new CreddyError('ERR_DPOP_INVALID', 'token is DPoP-bound: present it with a DPoP proof (Authorization: DPoP)', {
            details: { reason: 'proof_required', jkt: claims.cnf.jkt },
          });
        }
        const checks = { accessToken: token, jkt: claims.cnf.jkt, maxAge: dpopMaxAge, clockTolerance: dpopTolerance, replay, now };
        await verifyDpopProof(request.dpop, checks);
      } else if (request.dpop) {
        // RFC 9449 §7.1: the DPoP scheme with a bearer token is a client error, not a downgrade to accept.
        throw new CreddyError('ERR_DPOP_INVALID', 'token is not DPoP-bound: present it as a Bearer token');
      }
      const needed = [...new Set([...required, ...checkScopes(request.scopes ?? [], 'request scopes')])];
      const missing = missingScopes(claims.scope, needed);
      if (missing.length > 0) {
        const details = { scopes: missing, required: needed };
        throw new CreddyError('ERR_INSUFFICIENT_SCOPE', `token lacks scope ${missing.join(', ')}`, { details });
      }
      if (isActive && !(await isActive(claims, token))) throw new CreddyError('ERR_TOKEN_REVOKED', `token ${claims.jti} has been revoked`);
      return claims;
    },
  };
}

/** The broker's public deny-list: false when the jti is revoked; a jti it never issued is invalid. */
async function notRevoked(doFetch: typeof fetch, base: string, jti: string): Promise<boolean> {
  const url = `${base}/v1/revocations/${encodeURIComponent(jti)}`;
  let response: Response;
  let body: { revoked?: unknown } | undefined;
  try {
    response = await doFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(10_000) });
    body = (await response.json().catch(() => undefined)) as typeof body;
  } catch (err) {
    throw new CreddyError('ERR_ISSUER_UNAVAILABLE', `cannot reach the deny-list at ${url}: ${(err as Error).message}`, { cause: err });
  }
  // Signed by a published key yet unknown to the broker: never issued there, or its store was lost.
  if (response.status === 404) throw new CreddyError('ERR_TOKEN_INVALID', `token id ${jti} is unknown to the broker`);
  if (response.status !== 200 || typeof body?.revoked !== 'boolean') {
    throw new CreddyError('ERR_ISSUER_UNAVAILABLE', `the deny-list at ${url} answered ${response.status}`);
  }
  return !body.revoked;
}

function httpUrl(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^https?:\/\/[^/]/.test(value)) {
    throw new CreddyError('ERR_USAGE', `createVerifier: ${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

function seconds(value: number | undefined, fallback: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || value > max)
    throw new CreddyError('ERR_USAGE', `createVerifier: ${name} must be 0-${max} seconds`);
  return value;
}

function checkScopes(scopes: readonly string[], name: string): readonly string[] {
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && s.length > 0 && !s.includes(' '))) {
    throw new CreddyError('ERR_USAGE', `${name} must be a list of scope strings`);
  }
  return scopes;
}
