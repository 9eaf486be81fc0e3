import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { createDpopProof } from '../../src/client/proofs.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import { startBroker, type TestAgentKey, type TestBroker } from '../helpers/harness.js';
import { startResourceServer } from './resource-server.js';

/**
 * `createCreddyClient` in its three auth modes, end to end against a real loopback broker and a
 * resource server guarded by `creddy/hono`. The broker's issuer (http://127.0.0.1:8400) is not
 * the address the client reaches it at, as behind a proxy, so the clients are given it (`issuer`;
 * test/client/issuer.test.ts shows why it is not taken from the broker's metadata): assertions
 * name the issuer, DPoP proofs sign the issuer's URLs, requests go to the client's own URL. The assertions the client
 * sends are also checked by jose.
 */
const ISSUER = 'http://127.0.0.1:8400';

/** A `fetch` that records what the client sends to the broker. */
function recording() {
  const requests: Array<{ method: string; path: string; headers: Record<string, string>; body: string }> = [];
  const doFetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    requests.push({
      method: init?.method ?? 'GET',
      path: url.pathname,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === 'string' ? init.body : '',
    });
    return fetch(input, init);
  };
  return { requests, fetch: doFetch };
}

describe('createCreddyClient', () => {
  let broker: TestBroker;
  let gha: FakeOidcIssuer;
  let agentToken: string;
  let key: TestAgentKey;
  let api: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    gha = await startFakeOidcIssuer();
    broker = await startBroker({
      extra: `federation:
  ci:
    issuer: ${gha.url}
    audience: ${ISSUER}
    claims:
      repository_owner_id: "1234567"
    subject: "repo:{repository}"
    can: ["demo:read"]`,
    });
    agentToken = await broker.agent('bot', 'demo:read,demo:write');
    key = await broker.keyPairAgent('deploy-bot', 'demo:read');
    api = await startResourceServer({ issuer: ISSUER, url: broker.url, audience: 'demo', scopes: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await broker?.stop();
    await gha?.close();
  });

  describe('bearer agent', () => {
    it('get: one issuance for concurrent callers and any scope order, a new one for other scopes', async () => {
      const client = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: agentToken });
      const [a, b, c] = await Promise.all([
        client.get('demo', { scopes: ['read', 'write'], ttl: '10m' }),
        client.get('demo', { scopes: ['write', 'read'], ttl: '10m' }),
        client.get('demo', { scopes: ['read', 'write'], ttl: '10m' }),
      ]);
      expect(new Set([a.id, b.id, c.id]).size).toBe(1);
      expect(a.token_type).toBe('Bearer');
      expect((await client.get('demo', { scopes: ['read'], ttl: '10m' })).id).not.toBe(a.id);
      expect((await client.list()).credentials.map((x) => x.id)).toContain(a.id);
      await expect(client.get('demo', { scopes: ['admin'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
    });

    it('fetch: presents the cached credential as a Bearer token to a creddy/hono resource server', async () => {
      const client = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: { type: 'bearer', token: agentToken } });
      const credential = { backend: 'demo', scopes: ['read'] };
      const first = await client.fetch(`${api.url}/files/a.txt?x=1`, { credential });
      expect(first.status).toBe(200);
      const body = (await first.json()) as { claims: { sub: string; jti: string } };
      expect(body.claims.sub).toBe('bot');
      const second = (await (
        await client.fetch(`${api.url}/files/b.txt`, { method: 'POST', body: 'x', credential })
      ).json()) as typeof body;
      expect(second.claims.jti).toBe(body.claims.jti); // cached
      const denied = await client.fetch(`${api.url}/files/a.txt`, { credential: { backend: 'demo', scopes: ['write'] } });
      expect(denied.status).toBe(403);
      expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    });

    it('refuses an id that would make the URL name another route ("", ".", "..")', async () => {
      const client = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: agentToken });
      for (const id of ['', '.', '..']) {
        await expect(client.revoke(id)).rejects.toMatchObject({ code: 'ERR_USAGE' });
        await expect(client.backend(id)).rejects.toMatchObject({ code: 'ERR_USAGE' });
      }
    });

    it('keeps the deprecated token option, and refuses calls that need a token without one', async () => {
      const legacy = createCreddyClient({ url: broker.url, issuer: ISSUER, token: agentToken });
      await expect(legacy.issue({ backend: 'demo' })).resolves.toMatchObject({ backend: 'demo' });
      const anonymous = createCreddyClient({ url: broker.url });
      await expect(anonymous.get('demo')).rejects.toMatchObject({ code: 'ERR_USAGE' });
      await expect(anonymous.discovery()).resolves.toMatchObject({ issuer: ISSUER });
      expect(() => createCreddyClient({ url: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
      expect(() =>
        createCreddyClient({ url: broker.url, issuer: ISSUER, auth: { type: 'key-pair', agent: 'bot', privateKey: 'not a key' } }),
      ).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    });

    it('binds its credentials too with dpop: true, to a key generated for the client', async () => {
      const client = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: agentToken, dpop: true });
      const issued = await client.get('demo', { scopes: ['read'] });
      expect(issued.token_type).toBe('DPoP');
      const res = await client.fetch(`${api.url}/files/x`, { credential: { backend: 'demo', scopes: ['read'] } });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(((await res.json()) as { claims: { jti: string; cnf?: unknown } }).claims).toMatchObject({
        jti: issued.id,
        cnf: { jkt: expect.any(String) },
      });
    });
  });

  describe('key-pair agent', () => {
    it('authenticates each call with a fresh client assertion and gets a credential bound to its key', async () => {
      const wire = recording();
      const client = createCreddyClient({
        url: broker.url,
        issuer: ISSUER,
        auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk },
        fetch: wire.fetch,
      });
      const [a, b] = await Promise.all([client.get('demo', { scopes: ['read'] }), client.get('demo', { scopes: ['read'] })]);
      expect(a.id).toBe(b.id);
      expect(a.token_type).toBe('DPoP');
      const fresh = await client.issue({ backend: 'demo', scopes: ['read'] });
      expect(fresh.id).not.toBe(a.id);
      const issuances = wire.requests.filter((r) => r.path === '/v1/credentials');
      expect(issuances).toHaveLength(2);
      const assertions = issuances.map((r) => r.headers['authorization']!.replace(/^Bearer /, ''));
      expect(new Set(assertions).size).toBe(2);
      for (const assertion of assertions) {
        const { payload } = await jwtVerify(assertion, await importJWK(key.publicJwk, 'EdDSA'), {
          algorithms: ['EdDSA'],
          issuer: 'deploy-bot',
          subject: 'deploy-bot',
          audience: ISSUER,
        });
        expect(payload.exp! - payload.iat!).toBe(60);
      }
      for (const request of issuances) expect(request.headers['dpop']).toMatch(/^ey/);
      // Nothing reusable crossed the wire: no ckr_ token, no private key.
      expect(JSON.stringify(wire.requests)).not.toMatch(new RegExp(`ckr_|${key.privateJwk.d}`));
      // The token is the agent's and bound to its key; list and revoke authenticate the same way.
      const claims = JSON.parse(Buffer.from(a.token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(claims).toMatchObject({ sub: 'deploy-bot', cnf: { jkt: key.jkt } });
      expect((await client.list()).credentials.map((c) => c.id)).toEqual(expect.arrayContaining([a.id, fresh.id]));
      await expect(client.revoke(fresh.id)).resolves.toMatchObject({ id: fresh.id });
    });

    it('fetch: sends the bound credential as Authorization: DPoP with a fresh proof per request; the token alone is useless', async () => {
      const seen: Array<{ authorization: string | null; dpop: string | null }> = [];
      const client = createCreddyClient({
        url: broker.url,
        issuer: ISSUER,
        auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk },
        fetch: async (input, init) => {
          const headers = new Headers(init?.headers);
          if (String(input).startsWith(api.url)) seen.push({ authorization: headers.get('authorization'), dpop: headers.get('dpop') });
          return fetch(input, init);
        },
      });
      const credential = { backend: 'demo', scopes: ['read'] };
      const ok = await client.fetch(`${api.url}/files/report.txt?page=2#top`, { credential });
      expect(ok.status, await ok.clone().text()).toBe(200);
      expect(((await ok.json()) as { claims: { cnf: { jkt: string } } }).claims.cnf.jkt).toBe(key.jkt);
      for (const method of ['GET', 'post', 'PATCH']) {
        const res = await client.fetch(`${api.url}/files/report.txt`, { method, credential, ...(method === 'GET' ? {} : { body: '{}' }) });
        expect(res.status, `${method} ${await res.clone().text()}`).toBe(200);
      }
      expect(seen.every((s) => s.authorization?.startsWith('DPoP ') && s.dpop)).toBe(true);
      expect(new Set(seen.map((s) => s.dpop)).size).toBe(seen.length);

      // The token alone, stolen from a log, is refused as a bearer token and under DPoP without a proof.
      const token = seen[0]!.authorization!.replace(/^DPoP /, '');
      const asBearer = await fetch(`${api.url}/files/report.txt`, { headers: { authorization: `Bearer ${token}` } });
      expect(asBearer.status).toBe(401);
      const noProof = await fetch(`${api.url}/files/report.txt`, { headers: { authorization: `DPoP ${token}` } });
      expect(noProof.status).toBe(401);
      expect(noProof.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
      // A proof replayed from an earlier request is refused, and so is a fresh proof from the thief's own key.
      const replayed = await fetch(`${api.url}/files/report.txt`, { headers: { authorization: `DPoP ${token}`, dpop: seen[0]!.dpop! } });
      expect(replayed.status).toBe(401);
      const thief = await createAgentSigner((await generateAgentKey()).privateJwk);
      const url = `${api.url}/files/report.txt`;
      const forged = await createDpopProof(thief, { method: 'GET', url, accessToken: token });
      const stolen = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: forged } });
      expect(stolen.status).toBe(401);
      expect(stolen.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
    });

    it('refuses to present a credential bound to a key it does not hold', async () => {
      // Someone on the wire swaps the issuance proof for one of their own key: the broker binds to
      // that key, and the client will not present what it cannot prove.
      const other = await createAgentSigner((await generateAgentKey()).privateJwk);
      const client = createCreddyClient({
        url: broker.url,
        issuer: ISSUER,
        auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk },
        fetch: async (input, init) => {
          const headers = new Headers(init?.headers);
          if (new URL(String(input)).pathname === '/v1/credentials' && headers.has('dpop')) {
            headers.set('dpop', await createDpopProof(other, { method: 'POST', url: `${ISSUER}/v1/credentials` }));
          }
          return fetch(input, { ...init, headers });
        },
      });
      await expect(client.fetch(`${api.url}/files/a`, { credential: { backend: 'demo' } })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
      });
    });

    it('surfaces a refused assertion (unknown agent, or a key the agent does not hold) as ERR_UNAUTHENTICATED', async () => {
      const stranger = await generateAgentKey();
      for (const agent of ['stranger', 'deploy-bot']) {
        const client = createCreddyClient({
          url: broker.url,
          issuer: ISSUER,
          auth: { type: 'key-pair', agent, privateKey: stranger.privateJwk },
        });
        await expect(client.get('demo')).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
      }
    });
  });

  describe('OIDC token source', () => {
    const idToken = () => gha.sign(gha.githubClaims(ISSUER, {}, broker.clock.now()));

    it('exchanges the ID token at the token endpoint from RFC 8414 metadata (RFC 8693) for each credential', async () => {
      let calls = 0;
      const wire = recording();
      const client = createCreddyClient({
        url: broker.url,
        issuer: ISSUER,
        auth: {
          type: 'oidc',
          idToken: async () => {
            calls++;
            return idToken();
          },
        },
        fetch: wire.fetch,
      });
      const issued = await client.get('demo', { scopes: ['read'], ttl: 300 });
      expect(issued).toMatchObject({ backend: 'demo', scopes: ['read'], token_type: 'Bearer', credential: null });
      expect(issued.ttl).toEqual({ requested: 300, granted: 300, clamped_by: null });
      expect(Date.parse(issued.expires_at)).toBeGreaterThan(Date.now());
      expect((await client.get('demo', { scopes: ['read'], ttl: 300 })).id).toBe(issued.id);
      expect(calls).toBe(1);
      expect(wire.requests.map((r) => r.path)).toContain('/.well-known/oauth-authorization-server');
      const exchange = wire.requests.find((r) => r.path === '/oauth/token')!;
      expect(exchange.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(Object.fromEntries(new URLSearchParams(exchange.body))).toEqual({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: expect.any(String),
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        audience: 'demo',
        scope: 'read',
        ttl: '300',
      });
      const res = await client.fetch(`${api.url}/files/x`, { credential: { backend: 'demo', scopes: ['read'], ttl: 300 } });
      expect(((await res.json()) as { claims: { sub: string } }).claims.sub).toBe('repo:my-org/infra');
    });

    it('with dpop: true the exchanged token is bound to a key the client made, and works only with its proofs', async () => {
      const client = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: { type: 'oidc', idToken }, dpop: true });
      const issued = await client.get('demo', { scopes: ['read'] });
      expect(issued.token_type).toBe('DPoP');
      const res = await client.fetch(`${api.url}/files/x`, { credential: { backend: 'demo', scopes: ['read'] } });
      expect(res.status, await res.clone().text()).toBe(200);
      const bearer = await fetch(`${api.url}/files/x`, { headers: { authorization: `Bearer ${issued.token}` } });
      expect(bearer.status).toBe(401);
    });

    it("maps OAuth errors to creddy's codes, and has no agent calls", async () => {
      const wrong = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: { type: 'oidc', idToken: () => 'forged.id.token' } });
      await expect(wrong.get('demo')).rejects.toMatchObject({
        code: 'ERR_ID_TOKEN_INVALID',
        message: expect.stringContaining('invalid_grant'),
      });
      await expect(wrong.list()).rejects.toMatchObject({ code: 'ERR_USAGE' });
      const outside = createCreddyClient({ url: broker.url, issuer: ISSUER, auth: { type: 'oidc', idToken } });
      await expect(outside.get('demo', { scopes: ['write'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
    });
  });
});
