import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../services.js';
import { stampResponse } from './middleware/request-id.js';

/** Where verifiers fetch the signing keys (RFC 8414 `jwks_uri`). */
export const JWKS_PATH = '/.well-known/jwks.json';

/** One answer to `GET /.well-known/jwks.json`: 200 with the body, or 304 when the ETag matched. */
export type JwksAnswer =
  | { readonly status: 200; readonly headers: JwksHeaders; readonly body: Uint8Array<ArrayBuffer> }
  | { readonly status: 304; readonly headers: JwksHeaders; readonly body: undefined };

/** Cache-Control, ETag and Content-Type: the same for both ways of serving it. */
type JwksHeaders = Readonly<Record<string, string>>;

/**
 * Answers JWKS requests from memory: the keyring encodes the body once per key set, and every
 * header value is made once here.
 *
 * `Cache-Control` carries up to 10% jitter below `jwks_max_age` so a fleet of verifiers does not
 * refetch in lock-step; never above it, so a newly published key reaches every cache before it
 * signs (docs/keys.md).
 */
export function jwksResponder(services: Services): (ifNoneMatch: string | undefined) => JwksAnswer {
  const maxAge = services.config.keys.jwksMaxAge;
  const jitter = Math.max(1, Math.ceil(maxAge * 0.1));
  const cacheControl = Array.from({ length: jitter }, (_, i) => `public, max-age=${Math.max(0, maxAge - i)}`);
  return (ifNoneMatch) => {
    const jwks = services.keyring.jwks();
    const pick = cacheControl[Math.floor(Math.random() * jitter)] ?? cacheControl[0]!;
    // The 304 names the type too: a cache takes a 304's headers over what it stored (RFC 9111
    // §4.3.4), and without one @hono/node-server's default text/plain would reach it.
    const headers = { 'Cache-Control': pick, ETag: jwks.etag, 'Content-Type': 'application/jwk-set+json' };
    if (ifNoneMatch !== undefined && noneMatchHits(ifNoneMatch, jwks.etag)) return { status: 304, headers, body: undefined };
    return { status: 200, headers, body: jwks.bytes };
  };
}

/**
 * Whether `If-None-Match` names `etag` (RFC 9110 §13.1.2): `*`, or a list of entity tags compared
 * weakly (a `W/` prefix does not matter), as caches and clients send them. The exact tag alone,
 * what verifiers send back, is decided without parsing.
 */
function noneMatchHits(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === etag) return true;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || (t.startsWith('W/') ? t.slice(2) : t) === etag;
  });
}

/**
 * The Node request listener in front of the app: `GET /.well-known/jwks.json` is answered here,
 * straight from memory, and everything else goes to `next` (the hono app).
 *
 * Why: verifiers fetch the JWKS far more often than agents ask for credentials, and the hono path
 * costs a web `Request`, the middleware chain and routing on each (bench/README.md, "JWKS"). The
 * answer is the one the app's own route gives (both call `jwksResponder`), with the headers every
 * response carries (`stampResponse`: `X-Request-Id`, `nosniff`). HEAD, a query
 * string or any other method take the app's path.
 */
export function withJwksFastPath(
  services: Services,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const answer = jwksResponder(services);
  return (req, res) => {
    if (req.method !== 'GET' || req.url !== JWKS_PATH) {
      next(req, res);
      return;
    }
    const ifNoneMatch = req.headers['if-none-match'];
    const { status, headers, body } = answer(ifNoneMatch);
    stampResponse((name, value) => res.setHeader(name, value));
    for (const name in headers) res.setHeader(name, headers[name]!);
    if (body) res.setHeader('Content-Length', body.byteLength);
    res.writeHead(status);
    res.end(body);
  };
}
