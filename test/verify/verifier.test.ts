import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createDpopProof } from '../../src/client/proofs.js';
import { verifyCreddyToken } from '../../src/verify/token.js';
import { createVerifier, type Verifier } from '../../src/verify/verifier.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { startTestIssuer, type TestIssuer } from './jwks-server.js';

/**
 * `createVerifier` against a real loopback broker: its JWKS, its deny-list, tokens it issued over
 * HTTP, and DPoP-bound tokens signed by its own signing key (the broker does not bind tokens
 * yet; its signer signs the claims the server stage will add, `cnf.jkt`).
 */
describe('createVerifier', () => {
  let broker: TestBroker;
  let agentToken: string;
  let verifier: Verifier;
  const issuer = 'http://127.0.0.1:8400';
  const api = 'https://api.example.com/files/report.txt';
  const t = () => Math.floor(Date.now() / 1000);
  const signReal = (claims: Record<string, unknown> = {}) =>
    broker.services.keyring.signer().sign({
      iss: issuer,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t(),
      nbf: t(),
      exp: t() + 600,
      jti: `bound-${Math.random().toString(36).slice(2, 12)}`,
      scope: 'read',
      backend: 'demo',
      ...claims,
    });
  const issued = async (scopes: string[]) => {
    const res = await issue(broker.url, agentToken, { backend: 'demo', scopes });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; token: string };
  };

  beforeAll(async () => {
    broker = await startBroker();
    agentToken = await broker.agent('bot', 'demo:read,demo:write,demo:files:*');
    verifier = createVerifier({ issuer, url: broker.url, audience: 'demo' });
  });
  afterAll(async () => broker.stop());

  it('checks options in the factory', () => {
    const bad = [
      { issuer, audience: '' },
      { issuer, audience: [] },
      { issuer: 'creddy.example.com', audience: 'demo' },
      { issuer, audience: 'demo', clockTolerance: 3600 },
      { issuer, audience: 'demo', scopes: ['two words'] },
      { issuer, audience: 'demo', dpop: { maxAge: -1 } },
      { issuer, audience: 'demo', backend: '' },
      { issuer, audience: 'demo', backend: [] },
    ];
    for (const options of bad)
      expect(() => createVerifier(options as never), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('accepts a token the broker issued and refuses it for another audience', async () => {
    const { id, token } = await issued(['read']);
    await expect(verifier.verify(token)).resolves.toMatchObject({ jti: id, sub: 'bot', scope: 'read', aud: 'demo' });
    const elsewhere = createVerifier({ issuer, url: broker.url, audience: 'https://api.other' });
    await expect(elsewhere.verify(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });

  it('with backend, refuses a token of the right audience issued for another backend', async () => {
    const { token } = await issued(['read']);
    const pinned = createVerifier({ issuer, url: broker.url, audience: 'demo', backend: ['other', 'demo'] });
    await expect(pinned.verify(token)).resolves.toMatchObject({ backend: 'demo' });
    // A token whose aud names this service but whose backend claim is another's.
    const foreign = signReal({ backend: 'sandbox' });
    await expect(verifier.verify(foreign)).resolves.toMatchObject({ backend: 'sandbox' });
    const strict = createVerifier({ issuer, url: broker.url, audience: 'demo', backend: 'demo' });
    await expect(strict.verify(foreign)).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
      message: 'token rejected (issued for another backend)',
    });
  });

  it('requires every configured and per-request scope; a granted wildcard covers narrower scopes', async () => {
    const { token } = await issued(['read', 'files:*']);
    const needs = (scopes: string[]) => createVerifier({ issuer, url: broker.url, audience: 'demo', scopes });
    await expect(needs(['read', 'files:report']).verify(token)).resolves.toBeTruthy();
    await expect(needs(['files:r*']).verify(token)).resolves.toBeTruthy();
    await expect(needs(['read', 'write']).verify(token)).rejects.toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      status: 403,
      details: { scopes: ['write'], required: ['read', 'write'] },
    });
    await expect(needs(['*']).verify(token)).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
    await expect(verifier.verify(token, { scopes: ['write'] })).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
    // Read is not a prefix pattern: "reader" is another scope.
    await expect(needs(['reader']).verify(token)).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
  });

  it('with introspect, asks the deny-list: revoked → ERR_TOKEN_REVOKED, never issued → ERR_TOKEN_INVALID', async () => {
    const online = createVerifier({ issuer, url: broker.url, audience: 'demo', introspect: true });
    const { id, token } = await issued(['read']);
    await expect(online.verify(token)).resolves.toMatchObject({ jti: id });
    const revoked = await fetch(`${broker.url}/v1/credentials/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${agentToken}` },
    });
    expect(revoked.status).toBe(200);
    await expect(online.verify(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
    await expect(verifier.verify(token)).resolves.toBeTruthy(); // offline: valid until exp
    await expect(online.verify(signReal())).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    const custom = createVerifier({ issuer, url: broker.url, audience: 'demo', introspect: async (claims) => claims.scope !== 'read' });
    await expect(custom.verify((await issued(['read'])).token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });

  it('fails closed with ERR_ISSUER_UNAVAILABLE when the broker cannot be reached', async () => {
    const { token } = await issued(['read']);
    const cut = createVerifier({ issuer, url: 'http://127.0.0.1:1', audience: 'demo' });
    await expect(cut.verify(token)).rejects.toMatchObject({ code: 'ERR_ISSUER_UNAVAILABLE', status: 503 });
  });

  describe('rejection messages', () => {
    let other: TestIssuer;
    beforeAll(async () => {
      other = await startTestIssuer();
    });
    afterAll(async () => other?.close());

    /** The error, which must carry creddy's code and neither jose's code nor the token. */
    const rejected = async (v: Verifier, token: string) => {
      const err = (await v.verify(token).catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code).toBe('ERR_TOKEN_INVALID');
      expect(err.message).not.toMatch(/ERR_J/);
      expect(err.message).not.toContain(token);
      expect(err.message).not.toContain(token.split('.')[2]);
      return err.message;
    };

    it('say which aud, iss and typ were expected and which came, in creddy words', async () => {
      const { token } = await issued(['read']);
      const elsewhere = createVerifier({ issuer, url: broker.url, audience: 'https://api.other' });
      expect(await rejected(elsewhere, token)).toBe('token rejected (expected aud "https://api.other", got "demo")');
      const either = createVerifier({ issuer, url: broker.url, audience: ['a', 'b'] });
      expect(await rejected(either, signReal({ aud: ['c', 'd'] }))).toBe('token rejected (expected aud "a" or "b", got ["c","d"])');
      expect(await rejected(verifier, signReal({ iss: 'https://evil.example' }))).toBe(
        `token rejected (expected iss "${issuer}", got "https://evil.example")`,
      );
      expect(await rejected(verifier, signReal({ aud: undefined }))).toBe('token rejected (expected aud "demo", got none)');
      // A long value from the token is cut short, and control characters stay escaped.
      const long = await rejected(verifier, signReal({ iss: `https://x/${'a'.repeat(500)}\n` }));
      expect(long.length).toBeLessThan(300);
      expect(long).not.toContain('\n');

      // typ: signed by a loopback issuer with a key the verifier trusts, so only the typ is wrong.
      const fromOther = createVerifier({ issuer: other.url, audience: 'demo' });
      const claims = {
        iss: other.url,
        sub: 'bot',
        aud: 'demo',
        client_id: 'bot',
        iat: t(),
        exp: t() + 600,
        jti: 'jti-000001',
        scope: 'read',
        backend: 'demo',
      };
      await expect(fromOther.verify(other.sign({ typ: 'at+jwt' }, claims))).resolves.toMatchObject({ sub: 'bot' });
      expect(await rejected(fromOther, other.sign({ typ: 'JWT' }, claims))).toBe('token rejected (expected typ "at+jwt", got "JWT")');
      expect(await rejected(fromOther, other.sign({}, claims))).toBe('token rejected (expected typ "at+jwt", got none)');
      expect(await rejected(fromOther, other.sign({ typ: 'at+jwt' }, { ...claims, jti: undefined }))).toBe(
        'token rejected (claim jti is missing)',
      );
    });

    it('an issuer configured with a trailing slash verifies the broker’s tokens (and still pins iss exactly)', async () => {
      const { id, token } = await issued(['read']);
      const slashed = createVerifier({ issuer: `${issuer}/`, url: `${broker.url}/`, audience: 'demo' });
      await expect(slashed.verify(token)).resolves.toMatchObject({ jti: id });
      const keys = (await import('../../src/verify/token.js')).creddyJwks(`${broker.url}/`);
      await expect(verifyCreddyToken(token, { issuer: `${issuer}//`, audience: 'demo', keys })).resolves.toMatchObject({ jti: id });
      expect(await rejected(slashed, signReal({ iss: `${issuer}/` }))).toBe(`token rejected (expected iss "${issuer}", got "${issuer}/")`);
    });
  });

  describe('DPoP-bound tokens', () => {
    it('accept a proof by the bound key for this request, once', async () => {
      const key = await createAgentSigner((await generateAgentKey()).privateJwk);
      const token = signReal({ cnf: { jkt: key.jkt } });
      const proof = await createDpopProof(key, { method: 'GET', url: api, accessToken: token });
      await expect(verifier.verify(token, { dpop: { proof, method: 'GET', url: `${api}?x=1` } })).resolves.toMatchObject({
        cnf: { jkt: key.jkt },
      });
      await expect(verifier.verify(token, { dpop: { proof, method: 'GET', url: api } })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
      });
    });

    it('refuse the token alone, as a bearer token, and through the deprecated verifyCreddyToken', async () => {
      const key = await createAgentSigner((await generateAgentKey()).privateJwk);
      const token = signReal({ cnf: { jkt: key.jkt } });
      await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'ERR_DPOP_INVALID', status: 401 });
      const keys = (await import('../../src/verify/token.js')).creddyJwks(broker.url);
      await expect(verifyCreddyToken(token, { issuer, audience: 'demo', keys })).rejects.toMatchObject({ code: 'ERR_DPOP_INVALID' });
    });

    it("refuse a proof by another key, for another request, or carrying another token's hash", async () => {
      const key = await createAgentSigner((await generateAgentKey()).privateJwk);
      const thief = await createAgentSigner((await generateAgentKey()).privateJwk);
      const token = signReal({ cnf: { jkt: key.jkt } });
      const verify = async (proof: Promise<string>, method = 'GET', url = api) =>
        verifier.verify(token, { dpop: { proof: await proof, method, url } });
      await expect(verify(createDpopProof(thief, { method: 'GET', url: api, accessToken: token }))).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
        message: expect.stringContaining('cnf.jkt'),
      });
      await expect(verify(createDpopProof(key, { method: 'GET', url: api, accessToken: token }), 'DELETE')).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
      });
      await expect(
        verify(createDpopProof(key, { method: 'GET', url: 'https://api.example.com/admin', accessToken: token })),
      ).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
      });
      await expect(verify(createDpopProof(key, { method: 'GET', url: api, accessToken: signReal() }))).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
        message: expect.stringContaining('ath'),
      });
      await expect(verify(createDpopProof(key, { method: 'GET', url: api }))).rejects.toMatchObject({ code: 'ERR_DPOP_INVALID' });
    });

    it('refuse the DPoP scheme for an unbound token, and a malformed cnf', async () => {
      const key = await createAgentSigner((await generateAgentKey()).privateJwk);
      const unbound = (await issued(['read'])).token;
      const proof = await createDpopProof(key, { method: 'GET', url: api, accessToken: unbound });
      await expect(verifier.verify(unbound, { dpop: { proof, method: 'GET', url: api } })).rejects.toMatchObject({
        code: 'ERR_DPOP_INVALID',
      });
      for (const cnf of [{ jkt: 5 }, {}, 'jkt', null, { 'x5t#S256': 'abc' }]) {
        await expect(verifier.verify(signReal({ cnf })), JSON.stringify(cnf)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
      }
    });
  });
});
