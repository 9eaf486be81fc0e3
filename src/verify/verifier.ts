import { CreddyError } from '../errors.js';
import { type CreddyClaims, verifyAccessToken } from './access-token.js';
import { createDenyList } from './deny-list.js';
import { type DpopRequest, verifyDpopProof } from './dpop.js';
import { createJwksCache, DEFAULT_STALE_IF_ERROR_MS } from './jwks.js';
import { createReplayCache, type ReplayCache } from './replay-cache.js';
import { missingScopes } from './scopes.js';

/** Options of {@link createVerifier}. Durations are in seconds unless named `…Ms`. */
export interface VerifierOptions {
  /** Expected `iss`: the broker's issuer URL. */
  readonly issuer: string;
  /** Expected `aud`: this service (a backend's `audience`, or the backend name). Required: a token for another service must not pass here. */
  readonly audience: string | readonly string[];
  /**
   * Expected `backend` claim: the backend (or backends) whose tokens this service takes. Optional,
   * since the broker refuses two backends with one audience, so `aud` already names one; pin it
   * too where a service should not trust that alone (a broker whose config you do not control).
   */
  readonly backend?: string | readonly string[] | undefined;
  /** Scopes every token must grant, all of them (a granted `files:*` covers `files:read`). */
  readonly scopes?: readonly string[] | undefined;
  /** Allowed clock skew for exp/nbf/iat (default 60, at most 300). */
  readonly clockTolerance?: number | undefined;
  /**
   * Ask the broker, after the offline checks, whether the token was revoked: `true` uses its
   * public deny-list (`GET /v1/revocations/{jti}`); a function decides itself (true = active).
   * One request per verification (concurrent verifications of one token share it; verdicts are
   * never cached): use it where immediate revocation matters more than latency. The answer is read
   * up to 4 KiB; a larger one, or none, is `ERR_ISSUER_UNAVAILABLE`, and after such a failure
   * every check fails at once for 5 s before the broker is asked again, as for the JWKS.
   */
  readonly introspect?: boolean | ((claims: CreddyClaims, token: string) => Promise<boolean>) | undefined;
  /** Where to reach the broker (JWKS, deny-list) when it is not at `issuer`, e.g. an internal address. */
  readonly url?: string | undefined;
  /** The `fetch` to use for the JWKS and the deny-list (default: the global one). */
  readonly fetch?: typeof fetch | undefined;
  /**
   * How long one request to the broker — a JWKS fetch, or a deny-list check with `introspect` —
   * may take, body included, in ms (default 10 000; 1 to 60 000). A broker that accepts the
   * connection and never answers costs a verification at most this long, and only the first one:
   * after a failed JWKS fetch or deny-list check the verifier waits 5 s before asking that endpoint
   * again and fails at once meanwhile.
   *
   * @example
   * ```ts
   * import { createVerifier } from 'creddy/verify';
   *
   * // The broker is on the same network: give up on it after 2 s rather than 10.
   * const verifier = createVerifier({ issuer: 'https://creddy.example.com', audience: 'https://api.internal', timeoutMs: 2_000 });
   * ```
   */
  readonly timeoutMs?: number | undefined;
  /**
   * The JWKS cache, durations in ms:
   * - `cooldownMs`: refetch on an unknown kid at most once per this long (default 30 000).
   * - `maxCacheAgeMs`: cap on the broker's `max-age` (default 86 400 000, one day).
   * - `staleIfErrorMs`: while the broker cannot be reached, keep verifying with a key set this
   *   long past its `max-age` (default 300 000, at most 3 600 000; 0 refuses every token once
   *   `max-age` has passed). The cost: a key revoked during an outage keeps verifying until the
   *   broker answers again or this window ends. A set served `no-store`/`no-cache` is never used stale.
   */
  readonly jwks?:
    | {
        readonly cooldownMs?: number | undefined;
        readonly maxCacheAgeMs?: number | undefined;
        readonly staleIfErrorMs?: number | undefined;
      }
    | undefined;
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
   * @throws A {@link CreddyError} `ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED`, `ERR_TOKEN_REVOKED`,
   * `ERR_DPOP_INVALID` (401); `ERR_INSUFFICIENT_SCOPE` (403); `ERR_ISSUER_UNAVAILABLE` (503).
   * `ERR_TOKEN_REVOKED` comes only from `introspect`: a token whose signing key was revoked is
   * `ERR_TOKEN_INVALID` (`details.reason: unknown_kid`) once the key has left the cached JWKS —
   * the set alone cannot tell a revoked key from an unknown one — and verifies until then (the
   * set's max-age, plus `jwks.staleIfErrorMs` while the broker cannot be reached).
   */
  verify(token: string, request?: VerifyRequest): Promise<CreddyClaims>;
}

/**
 * Creates a verifier for creddy access tokens: EdDSA only and `typ: at+jwt` (pinned, never read
 * from the token), `iss`, `aud` (and `backend` when asked), exp/nbf/iat with bounded skew, every
 * required scope, and a JWKS cache that follows the broker's `Cache-Control: max-age` and ETag, so key rotations never
 * reject a valid token; while the broker cannot be reached it fails fast (`ERR_ISSUER_UNAVAILABLE`,
 * one attempt per 5 s) and keeps a set past its max-age for at most `jwks.staleIfErrorMs`
 * (5 minutes). A DPoP-bound token (`cnf.jkt`) passes only with a valid proof from its
 * key for this very request (method, URL, token hash, fresh and unused). Options are checked here;
 * nothing is fetched until the first `verify`. Create one per issuer and audience and reuse it.
 *
 * @param options - Issuer, audience, backend, required scopes, skew, revocation check, DPoP settings, timeouts and the JWKS cache.
 * @returns A {@link Verifier}.
 * @throws A {@link CreddyError} `ERR_USAGE` for a malformed option.
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
  const backends =
    options.backend === undefined ? undefined : typeof options.backend === 'string' ? [options.backend] : [...options.backend];
  if (backends && (backends.length === 0 || !backends.every((b) => typeof b === 'string' && b.length > 0))) {
    throw new CreddyError('ERR_USAGE', 'createVerifier: backend must name a backend (or leave it out)');
  }
  const required = checkScopes(options.scopes ?? [], 'scopes');
  const clockTolerance = seconds(options.clockTolerance, 60, 300, 'clockTolerance');
  const dpopMaxAge = seconds(options.dpop?.maxAge, 60, 3600, 'dpop.maxAge');
  const dpopTolerance = seconds(options.dpop?.clockTolerance, 10, 300, 'dpop.clockTolerance');
  const timeoutMs = millis(options.timeoutMs, 10_000, 1, 60_000, 'timeoutMs');
  const jwks = {
    cooldown: millis(options.jwks?.cooldownMs, 30_000, 0, DAY_MS, 'jwks.cooldownMs'),
    maxCacheAge: millis(options.jwks?.maxCacheAgeMs, DAY_MS, 0, DAY_MS, 'jwks.maxCacheAgeMs'),
    staleIfError: millis(options.jwks?.staleIfErrorMs, DEFAULT_STALE_IF_ERROR_MS, 0, 3600_000, 'jwks.staleIfErrorMs'),
  };
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const replay = options.dpop?.replay ?? createReplayCache({ now });
  const keys = createJwksCache({ url: `${base}/.well-known/jwks.json`, fetch: doFetch, timeoutMs, ...jwks, now });
  const denyList = options.introspect === true ? createDenyList({ base, fetch: doFetch, timeoutMs, now }) : undefined;
  const isActive =
    typeof options.introspect === 'function' ? options.introspect : denyList ? (claims: CreddyClaims) => denyList(claims.jti) : undefined;

  return {
    async verify(token, request = {}) {
      const claims = await verifyAccessToken(token, { issuer, audience: audiences, clockTolerance, keys, now });
      if (backends && !backends.includes(claims.backend))
        throw new CreddyError('ERR_TOKEN_INVALID', 'token rejected (issued for another backend)');
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

const DAY_MS = 86_400_000;

function millis(value: number | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw new CreddyError('ERR_USAGE', `createVerifier: ${name} must be ${min}-${max} ms, got ${String(value)}`);
  return value;
}

function checkScopes(scopes: readonly string[], name: string): readonly string[] {
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && s.length > 0 && !s.includes(' '))) {
    throw new CreddyError('ERR_USAGE', `${name} must be a list of scope strings`);
  }
  return scopes;
}

// The TSDoc above links to CreddyError, and a link in the emitted .d.ts resolves only to a name
// that file imports, which it does only for names its declarations use: this keeps it there.
export type { CreddyError };
