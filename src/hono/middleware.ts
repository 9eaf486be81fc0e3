import type { Context, MiddlewareHandler } from 'hono';
import { type CreddyError, isCreddyError } from '../errors.js';
import type { CreddyClaims } from '../verify/access-token.js';
import { DPOP_ALGORITHMS } from '../verify/dpop.js';
import { createVerifier, type Verifier, type VerifierOptions } from '../verify/verifier.js';

/** The context variables {@link creddyAuth} sets: `c.get('creddy')` is the verified token's claims. */
export interface CreddyAuthEnv {
  Variables: { creddy: CreddyClaims };
}

/** Options of {@link creddyAuth}: a verifier's options, or a verifier shared between routes. */
export type CreddyAuthOptions = (Omit<VerifierOptions, 'scopes'> | { readonly verifier: Verifier }) & {
  /** Scopes this route needs, all of them. */
  readonly scopes?: readonly string[] | undefined;
  /**
   * The URL the client sent the request to, for the DPoP `htu` check (default `c.req.url`).
   * Behind a TLS-terminating proxy, rebuild the public URL here.
   */
  readonly requestUrl?: ((c: Context) => string) | undefined;
  /** The `realm` of the `WWW-Authenticate` challenges (default `creddy`). */
  readonly realm?: string | undefined;
};

const AUTHORIZATION_RE = /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * Verifies the creddy token of every request it guards: `Authorization: Bearer <jwt>`, or
 * `Authorization: DPoP <jwt>` with a `DPoP` proof header for the request's method and URL. On
 * success `c.get('creddy')` holds the claims; otherwise it answers `401` with `WWW-Authenticate`
 * challenges for both schemes (RFC 6750 §3, RFC 9449 §7.1: `invalid_token`,
 * `invalid_dpop_proof`), `403` with `insufficient_scope` and the scopes needed, or `503` when
 * the broker's keys cannot be fetched. The body is `{"error": {"code", "message"}}`.
 *
 * @param options - Issuer, audience and required scopes (or a shared verifier), how to rebuild the public URL.
 * @returns The middleware; build it once per route group (it owns the JWKS cache unless given a verifier).
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { type CreddyAuthEnv, creddyAuth } from 'creddy/hono';
 *
 * const app = new Hono<CreddyAuthEnv>();
 * app.use('/files/*', creddyAuth({ issuer: 'https://creddy.example.com', audience: 'https://api.internal', scopes: ['files:read'] }));
 * app.get('/files/:name', (c) => c.json({ name: c.req.param('name'), agent: c.get('creddy').sub }));
 * export default app;
 * ```
 */
export function creddyAuth(options: CreddyAuthOptions): MiddlewareHandler<CreddyAuthEnv> {
  // The route's scopes are checked per request, so one verifier serves routes with different needs.
  const verifier = 'verifier' in options ? options.verifier : createVerifier({ ...options, scopes: undefined });
  const scopes = options.scopes ?? [];
  const realm = (options.realm ?? 'creddy').replace(/["\\]/g, '');
  const requestUrl = options.requestUrl ?? ((c: Context) => c.req.url);

  return async (c, next) => {
    const match = AUTHORIZATION_RE.exec(c.req.header('authorization') ?? '');
    const scheme = match?.[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    if (!match) return refuse(c, realm, scheme, undefined);
    const proof = c.req.header('dpop');
    try {
      const dpop = scheme === 'DPoP' ? { proof: proof ?? '', method: c.req.method, url: requestUrl(c) } : undefined;
      c.set('creddy', await verifier.verify(match[2]!, { dpop, scopes }));
    } catch (err) {
      if (!isCreddyError(err)) throw err;
      return refuse(c, realm, scheme, err);
    }
    await next();
  };
}

/** The challenge and error answer: the failing scheme's challenge carries the error, the other one stays bare. */
function refuse(c: Context, realm: string, scheme: 'Bearer' | 'DPoP', err: CreddyError | undefined): Response {
  const status = err === undefined ? 401 : err.status === 403 || err.status === 503 ? err.status : 401;
  const params = (error: string | undefined): string => {
    if (err === undefined || error === undefined) return '';
    // RFC 6750 §3: `scope` lists what the resource requires, not only what was missing.
    const extra =
      err.code === 'ERR_INSUFFICIENT_SCOPE' ? `, scope="${quotable(((err.details?.['required'] as string[]) ?? []).join(' '))}"` : '';
    return `, error="${error}", error_description="${quotable(err.message)}"${extra}`;
  };
  if (status !== 503) {
    const error = err?.code === 'ERR_INSUFFICIENT_SCOPE' ? 'insufficient_scope' : 'invalid_token';
    const dpopError = err?.code === 'ERR_DPOP_INVALID' && scheme === 'DPoP' ? 'invalid_dpop_proof' : error;
    c.header('WWW-Authenticate', `Bearer realm="${realm}"${scheme === 'Bearer' ? params(error) : ''}`, { append: true });
    c.header(
      'WWW-Authenticate',
      `DPoP realm="${realm}"${scheme === 'DPoP' ? params(dpopError) : ''}, algs="${DPOP_ALGORITHMS.join(' ')}"`,
      {
        append: true,
      },
    );
  }
  const code = err?.code ?? 'ERR_UNAUTHENTICATED';
  const message = err?.message ?? 'this resource needs a creddy token (Authorization: Bearer or DPoP)';
  return c.json({ error: { code, message } }, status);
}

/** RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E — no quotes, backslashes or control characters. */
const quotable = (text: string): string => text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ').slice(0, 200);
