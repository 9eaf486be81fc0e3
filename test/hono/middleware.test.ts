import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createDpopProof } from '../../src/client/proofs.js';
import { type CreddyAuthEnv, type CreddyAuthOptions, creddyAuth } from '../../src/hono/index.js';
import { createVerifier } from '../../src/verify/verifier.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * `creddyAuth` in a hono app, driven with `app.request()` (no port for the app), verifying
 * against a real loopback broker's JWKS: the 401/403/503 answers and their WWW-Authenticate
 * challenges (RFC 6750 §3, RFC 9449 §7.1), and DPoP with the URL rebuilt from the request.
 */
const ISSUER = 'http://127.0.0.1:8400';

describe('creddyAuth (hono middleware)', () => {
  let broker: TestBroker;
  let agentToken: string;
  let readToken: string;
  const t = () => Math.floor(Date.now() / 1000);

  const appWith = (options: Partial<CreddyAuthOptions> = {}) => {
    const app = new Hono<CreddyAuthEnv>();
    app.use('/files/*', creddyAuth({ issuer: ISSUER, url: broker.url, audience: 'demo', ...options } as CreddyAuthOptions));
    app.get('/files/:name', (c) => c.json({ agent: c.get('creddy').sub, scope: c.get('creddy').scope }));
    return app;
  };
  const challenges = (res: Response) => res.headers.get('www-authenticate') ?? '';
  const bound = async () => {
    const key = await createAgentSigner((await generateAgentKey()).privateJwk);
    const token = broker.services.keyring.signer().sign({
      iss: ISSUER,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t(),
      nbf: t(),
      exp: t() + 600,
      jti: `hono-${Math.random().toString(36).slice(2, 12)}`,
      scope: 'read',
      backend: 'demo',
      cnf: { jkt: key.jkt },
    });
    return { key, token };
  };

  beforeAll(async () => {
    broker = await startBroker();
    agentToken = await broker.agent('bot', 'demo:read,demo:write');
    readToken = (await issue(broker.url, agentToken, { backend: 'demo', scopes: ['read'] })).body.token;
  });
  afterAll(async () => broker.stop());

  it('admits a valid bearer token and puts its claims on the context', async () => {
    const app = appWith({ scopes: ['read'] });
    const res = await app.request('/files/a', { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: 'bot', scope: 'read' });
    // The scheme is case-insensitive (RFC 9110 §11.1).
    expect((await app.request('/files/a', { headers: { authorization: `bearer ${readToken}` } })).status).toBe(200);
  });

  it('answers 401 with both challenges and no error when there is no token', async () => {
    for (const headers of [{}, { authorization: 'Basic Ym90OnB3' }, { authorization: 'Bearer' }]) {
      const res = await appWith().request('/files/a', { headers });
      expect(res.status).toBe(401);
      expect(challenges(res)).toBe('Bearer realm="creddy", DPoP realm="creddy", algs="EdDSA ES256"');
      expect(await res.json()).toMatchObject({ error: { code: 'ERR_UNAUTHENTICATED' } });
    }
  });

  it('answers 401 invalid_token for a bad or expired token, with a quotable description', async () => {
    const expired = broker.services.keyring.signer().sign({
      iss: ISSUER,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t() - 900,
      nbf: t() - 900,
      exp: t() - 600,
      jti: 'expired-token',
      scope: 'read',
      backend: 'demo',
    });
    for (const [token, code] of [
      [expired, 'ERR_TOKEN_EXPIRED'],
      [`${readToken.slice(0, -4)}AAAA`, 'ERR_TOKEN_INVALID'],
    ] as const) {
      const res = await appWith().request('/files/a', { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(challenges(res)).toMatch(
        /^Bearer realm="creddy", error="invalid_token", error_description="[^"\\]+", DPoP realm="creddy", algs="EdDSA ES256"$/,
      );
      expect(await res.json()).toMatchObject({ error: { code } });
    }
  });

  it('answers 403 insufficient_scope naming the scopes the route needs', async () => {
    const res = await appWith({ scopes: ['read', 'write'] }).request('/files/a', { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status).toBe(403);
    expect(challenges(res)).toContain('Bearer realm="creddy", error="insufficient_scope"');
    expect(challenges(res)).toContain('error_description="token lacks scope write", scope="read write"');
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_INSUFFICIENT_SCOPE' } });
  });

  it('shares one verifier between routes with different scopes', async () => {
    const verifier = createVerifier({ issuer: ISSUER, url: broker.url, audience: 'demo' });
    const app = new Hono<CreddyAuthEnv>();
    app.get('/read', creddyAuth({ verifier, scopes: ['read'] }), (c) => c.text(c.get('creddy').sub));
    app.get('/write', creddyAuth({ verifier, scopes: ['write'] }), (c) => c.text(c.get('creddy').sub));
    const headers = { authorization: `Bearer ${readToken}` };
    expect((await app.request('/read', { headers })).status).toBe(200);
    expect((await app.request('/write', { headers })).status).toBe(403);
  });

  it('admits a DPoP-bound token with a proof for the request URL, and refuses it otherwise', async () => {
    const app = appWith();
    const { key, token } = await bound();
    const url = 'http://api.example.com/files/report?page=2';
    const proof = await createDpopProof(key, { method: 'GET', url, accessToken: token });
    const ok = await app.request(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(ok.status, await ok.clone().text()).toBe(200);

    const replay = await app.request(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(replay.status).toBe(401);
    expect(challenges(replay)).toMatch(
      /DPoP realm="creddy", error="invalid_dpop_proof", error_description="[^"]*replay[^"]*", algs="EdDSA ES256"/,
    );

    const elsewhere = await createDpopProof(key, { method: 'GET', url: 'http://api.example.com/files/other', accessToken: token });
    expect((await app.request(url, { headers: { authorization: `DPoP ${token}`, dpop: elsewhere } })).status).toBe(401);
    const asBearer = await app.request(url, { headers: { authorization: `Bearer ${token}` } });
    expect(asBearer.status).toBe(401);
    expect(await asBearer.json()).toMatchObject({ error: { code: 'ERR_DPOP_INVALID' } });
    const twoProofs = await createDpopProof(key, { method: 'GET', url, accessToken: token });
    const doubled = await app.request(url, { headers: { authorization: `DPoP ${token}`, dpop: `${twoProofs}, ${twoProofs}` } });
    expect(doubled.status).toBe(401);
  });

  it('checks htu against the public URL given by requestUrl (behind a proxy)', async () => {
    const app = appWith({ requestUrl: (c) => `https://api.example.com${new URL(c.req.url).pathname}` });
    const { key, token } = await bound();
    const proof = await createDpopProof(key, { method: 'GET', url: 'https://api.example.com/files/x', accessToken: token });
    const res = await app.request('http://10.0.0.7:8080/files/x', { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(res.status, await res.clone().text()).toBe(200);
  });

  it('answers 503 without a challenge when the broker cannot be reached', async () => {
    const app = appWith({ url: 'http://127.0.0.1:1' });
    const res = await app.request('/files/a', { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status).toBe(503);
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_ISSUER_UNAVAILABLE' } });
  });
});
