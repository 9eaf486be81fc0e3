import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAgentKey } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { startResourceServer } from './resource-server.js';
import { type Stage2Broker, startStage2Broker } from './stage2-broker.js';

/**
 * `createCreddyClient` in its three auth modes. Bearer mode runs end to end against a real
 * loopback broker and a resource server guarded by `creddy/hono`. Key-pair and OIDC modes need
 * broker endpoints that come with the server stage of issue 12, so they run against a wire-level
 * stand-in (stage2-broker.ts) that checks the client's assertions and proofs with creddy's
 * verifier pieces and signs with the real broker's key; the assertion is also checked by jose.
 */
const ISSUER = 'http://127.0.0.1:8400';

describe('createCreddyClient', () => {
  let broker: TestBroker;
  let agentToken: string;
  let api: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    broker = await startBroker();
    agentToken = await broker.agent('bot', 'demo:read,demo:write');
    api = await startResourceServer({ issuer: ISSUER, url: broker.url, audience: 'demo', scopes: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await broker?.stop();
  });

  describe('bearer agent, against the broker', () => {
    it('get: one issuance for concurrent callers and any scope order, a new one for other scopes', async () => {
      const client = createCreddyClient({ url: broker.url, auth: agentToken });
      const [a, b, c] = await Promise.all([
        client.get('demo', { scopes: ['read', 'write'], ttl: '10m' }),
        client.get('demo', { scopes: ['write', 'read'], ttl: '10m' }),
        client.get('demo', { scopes: ['read', 'write'], ttl: '10m' }),
      ]);
      expect(new Set([a.id, b.id, c.id]).size).toBe(1);
      expect((await client.get('demo', { scopes: ['read'], ttl: '10m' })).id).not.toBe(a.id);
      expect((await client.list()).credentials.map((x) => x.id)).toContain(a.id);
      await expect(client.get('demo', { scopes: ['admin'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
    });

    it('fetch: presents the cached credential as a Bearer token to a creddy/hono resource server', async () => {
      const client = createCreddyClient({ url: broker.url, auth: { type: 'bearer', token: agentToken } });
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

    it('keeps the deprecated token option, and refuses calls that need a token without one', async () => {
      const legacy = createCreddyClient({ url: broker.url, token: agentToken });
      await expect(legacy.issue({ backend: 'demo' })).resolves.toMatchObject({ backend: 'demo' });
      const anonymous = createCreddyClient({ url: broker.url });
      await expect(anonymous.get('demo')).rejects.toMatchObject({ code: 'ERR_USAGE' });
      await expect(anonymous.discovery()).resolves.toMatchObject({ issuer: ISSUER });
      expect(() => createCreddyClient({ url: 'ftp://x' })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
      expect(() => createCreddyClient({ url: broker.url, auth: { type: 'key-pair', agent: 'bot', privateKey: 'not a key' } })).toThrow(
        expect.objectContaining({ code: 'ERR_USAGE' }),
      );
    });
  });

  describe('key-pair agent (server stage stand-in)', () => {
    let stage2: Stage2Broker;
    let key: Awaited<ReturnType<typeof generateAgentKey>>;
    beforeAll(async () => {
      key = await generateAgentKey();
      stage2 = await startStage2Broker(broker, { agents: { 'deploy-bot': key.publicJwk } });
    });
    afterAll(async () => stage2?.close());

    it('authenticates each call with a fresh client assertion and gets a credential bound to its key', async () => {
      const client = createCreddyClient({ url: stage2.url, auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk } });
      const [a, b] = await Promise.all([client.get('demo', { scopes: ['read'] }), client.get('demo', { scopes: ['read'] })]);
      expect(a.id).toBe(b.id);
      await client.issue({ backend: 'demo', scopes: ['read'] });
      const issuances = stage2.requests.filter((r) => r.path === '/v1/credentials');
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
      expect(JSON.stringify(stage2.requests)).not.toMatch(new RegExp(`ckr_|${key.privateJwk.d}`));
    });

    it('fetch: sends the bound credential as Authorization: DPoP with a fresh proof per request', async () => {
      const client = createCreddyClient({ url: stage2.url, auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk } });
      const credential = { backend: 'demo', scopes: ['read'] };
      const seen: Array<{ authorization: string | null; dpop: string | null }> = [];
      const spying = createCreddyClient({
        url: stage2.url,
        auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk },
        fetch: async (input, init) => {
          const headers = new Headers(init?.headers);
          if (String(input).startsWith(api.url)) seen.push({ authorization: headers.get('authorization'), dpop: headers.get('dpop') });
          return fetch(input, init);
        },
      });
      const ok = await client.fetch(`${api.url}/files/report.txt?page=2#top`, { credential });
      expect(ok.status, await ok.clone().text()).toBe(200);
      expect(((await ok.json()) as { claims: { cnf: { jkt: string } } }).claims.cnf.jkt).toBe(key.jkt);
      for (const method of ['GET', 'post', 'PATCH']) {
        const res = await spying.fetch(`${api.url}/files/report.txt`, { method, credential, ...(method === 'GET' ? {} : { body: '{}' }) });
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
      // A proof replayed from an earlier request is refused.
      const replayed = await fetch(`${api.url}/files/report.txt`, { headers: { authorization: `DPoP ${token}`, dpop: seen[0]!.dpop! } });
      expect(replayed.status).toBe(401);
    });

    it('refuses to present a credential bound to a key it does not hold', async () => {
      const other = await generateAgentKey();
      const binding = await startStage2Broker(broker, { agents: { 'deploy-bot': key.publicJwk }, bindTo: other.jkt });
      try {
        const client = createCreddyClient({
          url: binding.url,
          auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: key.privateJwk },
        });
        await expect(client.fetch(`${api.url}/files/a`, { credential: { backend: 'demo' } })).rejects.toMatchObject({
          code: 'ERR_DPOP_INVALID',
        });
      } finally {
        await binding.close();
      }
    });

    it('surfaces a refused assertion (unknown agent) as ERR_UNAUTHENTICATED', async () => {
      const stranger = await generateAgentKey();
      const client = createCreddyClient({
        url: stage2.url,
        auth: { type: 'key-pair', agent: 'stranger', privateKey: stranger.privateJwk },
      });
      await expect(client.get('demo')).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    });

    it('a bearer agent can bind its credentials too, with a key generated for the client (dpop: true)', async () => {
      const client = createCreddyClient({ url: stage2.url, auth: 'ckr_stand-in', dpop: true });
      const issued = await client.get('demo', { scopes: ['read'] });
      const res = await client.fetch(`${api.url}/files/x`, { credential: { backend: 'demo', scopes: ['read'] } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { claims: { jti: string; cnf?: unknown } }).claims).toMatchObject({
        jti: issued.id,
        cnf: expect.anything(),
      });
    });
  });

  describe('OIDC token source (server stage stand-in)', () => {
    let stage2: Stage2Broker;
    beforeAll(async () => {
      stage2 = await startStage2Broker(broker, { agents: {}, idToken: { token: 'id-token-from-ci', subject: 'repo:org/app' } });
    });
    afterAll(async () => stage2?.close());

    it('exchanges the ID token at the token endpoint from RFC 8414 metadata (RFC 8693) for each credential', async () => {
      let calls = 0;
      const client = createCreddyClient({
        url: stage2.url,
        auth: {
          type: 'oidc',
          idToken: async () => {
            calls++;
            return 'id-token-from-ci';
          },
        },
      });
      const issued = await client.get('demo', { scopes: ['read'], ttl: 300 });
      expect(issued).toMatchObject({ backend: 'demo', scopes: ['read'], credential: null });
      expect(Date.parse(issued.expires_at)).toBeGreaterThan(Date.now());
      expect((await client.get('demo', { scopes: ['read'], ttl: 300 })).id).toBe(issued.id);
      expect(calls).toBe(1);
      const exchange = stage2.requests.find((r) => r.path === '/oauth/token')!;
      expect(exchange.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(Object.fromEntries(new URLSearchParams(exchange.body))).toEqual({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: 'id-token-from-ci',
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        audience: 'demo',
        scope: 'read',
        ttl: '300',
      });
      const res = await client.fetch(`${api.url}/files/x`, { credential: { backend: 'demo', scopes: ['read'], ttl: 300 } });
      expect(((await res.json()) as { claims: { sub: string } }).claims.sub).toBe('repo:org/app');
    });

    it('maps OAuth errors to codes, and has no agent calls', async () => {
      const wrong = createCreddyClient({ url: stage2.url, auth: { type: 'oidc', idToken: () => 'forged' } });
      await expect(wrong.get('demo')).rejects.toMatchObject({
        code: 'ERR_UNAUTHENTICATED',
        message: expect.stringContaining('invalid_grant'),
      });
      await expect(wrong.list()).rejects.toMatchObject({ code: 'ERR_USAGE' });
      const onBroker = createCreddyClient({ url: broker.url, auth: { type: 'oidc', idToken: () => 'x' } });
      await expect(onBroker.get('demo')).rejects.toMatchObject({ code: 'ERR_NOT_READY' }); // no token endpoint yet
    });
  });
});
