/**
 * A resource server that admits only requests carrying a valid creddy credential, built with
 * `creddy/hono`. A bearer credential comes as `Authorization: Bearer <jwt>`; a DPoP-bound one
 * (RFC 9449) only as `Authorization: DPoP <jwt>` with a fresh `DPoP` proof signed by the key the
 * credential is bound to — so a copied token is useless here without that key.
 *
 * Environment:
 *   CREDDY_ISSUER  the broker's issuer (its `issuer` setting), e.g. https://creddy.example.com
 *   CREDDY_URL     where to fetch the broker's JWKS when not at the issuer (optional)
 *   API_AUDIENCE   this service's audience: the backend's `audience`, or the backend name
 *   PORT           where to listen on 127.0.0.1 (default 8080; 0 picks a free port)
 */
import { serve } from '@hono/node-server';
import { type CreddyAuthEnv, creddyAuth } from 'creddy/hono';
import { Hono } from 'hono';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const app = new Hono<CreddyAuthEnv>();

// Verifies every request under /files/: signature against the broker's JWKS (cached per its
// Cache-Control), issuer, audience, expiry, the scope below, and for DPoP-bound credentials the
// proof (method, URL, token hash, freshness, one use). Failures answer 401/403 with the
// WWW-Authenticate challenges of RFC 6750 and RFC 9449.
app.use(
  '/files/*',
  creddyAuth({
    issuer: required('CREDDY_ISSUER'),
    url: process.env.CREDDY_URL,
    audience: required('API_AUDIENCE'),
    scopes: ['files:read'],
  }),
);

// The verified claims are on the context: who asked, and whether the credential is key-bound.
app.get('/files/:name', (c) => {
  const claims = c.get('creddy');
  return c.json({ name: c.req.param('name'), agent: claims.sub, scopes: claims.scope, dpop_bound: claims.cnf !== undefined });
});

serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 8080) }, (info) => {
  console.log(`resource server listening on http://127.0.0.1:${info.port}`);
});
