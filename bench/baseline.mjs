// The floor creddy is measured against: a bare hono app on @hono/node-server that answers
// POST /v1/credentials by parsing the JSON body and signing a JWT with the same header and claim
// set as creddy's (node:crypto Ed25519 on a hand-built compact JWS), in a response of the same
// shape. No authentication, no policy, no store, no audit: whatever creddy costs above this is
// the price of those.
//
// It also answers `GET /hello` with a fixed text: the floor for creddy's JWKS (a GET answered
// from memory).
//
//   node bench/baseline.mjs [--listen 127.0.0.1:0]   → first stdout line "baseline listening on URL"

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' } } });
const colon = values.listen.lastIndexOf(':');
const hostname = values.listen.slice(0, colon);
const port = Number(values.listen.slice(colon + 1));

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwk = publicKey.export({ format: 'jwk' });
// RFC 7638 thumbprint, like creddy's kid, so the header is byte-for-byte the same length.
const kid = createHash('sha256')
  .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))
  .digest('base64url');
const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'at+jwt', kid })).toString('base64url');

const TTL_SECONDS = 300;
const app = new Hono();
app.post('/v1/credentials', async (c) => {
  const body = await c.req.json();
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + TTL_SECONDS;
  // Shaped like creddy's credential ids (epoch ms in base 36, then 128 random bits): equal tokens.
  const jti = Date.now().toString(36).padStart(9, '0') + randomBytes(16).toString('base64url');
  const scopes = Array.isArray(body.scopes) ? body.scopes : ['read'];
  const claims = {
    iss: 'http://127.0.0.1:8400',
    sub: 'bench',
    aud: 'demo',
    client_id: 'bench',
    iat,
    nbf: iat,
    exp,
    jti,
    scope: scopes.join(' '),
    backend: body.backend,
  };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
  return c.json(
    {
      id: jti,
      token,
      expires_at: new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      backend: body.backend,
      scopes,
      metadata: null,
      ttl: { requested: TTL_SECONDS, granted: TTL_SECONDS, clamped_by: null },
      credential: null,
    },
    201,
  );
});

app.get('/hello', (c) => c.text('hello'));

const server = serve({ fetch: app.fetch, hostname, port }, (info) => {
  process.stdout.write(`baseline listening on http://${hostname}:${info.port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
