import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentSigner, createAgentSigner } from '../../src/client/agent-key.js';
import { createClientAssertion, createDpopProof } from '../../src/client/proofs.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * The standard OAuth endpoints as agents use them: `client_credentials` with an RFC 7523
 * assertion at the token endpoint, RFC 7662 introspection and RFC 7009 revocation of their own
 * tokens, and RFC 8414 metadata listing every endpoint.
 */
const ISSUER = 'http://127.0.0.1:8400';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('OAuth endpoints', () => {
  let broker: TestBroker;
  let signer: AgentSigner;
  let otherToken: string;

  const form = async (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${broker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? (JSON.parse(text) as any) : undefined };
  };
  const assertion = (audience = ISSUER) => createClientAssertion(signer, { agent: 'kp', audience });
  const asAgent = async () => ({ client_assertion_type: JWT_BEARER, client_assertion: await assertion() });
  /** A credential for the key-pair agent, from the token endpoint. */
  const own = async (dpop = false) => {
    const fields = { grant_type: 'client_credentials', ...(await asAgent()), audience: 'demo', scope: 'read' };
    const proof = dpop ? { dpop: await createDpopProof(signer, { method: 'POST', url: `${ISSUER}/oauth/token` }) } : {};
    const r = await form('/oauth/token', fields, proof);
    expect(r.status, r.text).toBe(200);
    return r.body as { access_token: string; id: string; token_type: string; expires_in: number; scope: string };
  };

  beforeAll(async () => {
    broker = await startBroker({ extra: 'auth_throttle:\n  max_failures: 100000\n  max_audited_per_window: 100000' });
    signer = await createAgentSigner((await broker.keyPairAgent('kp', 'demo:read')).privateJwk);
    otherToken = await broker.agent('other', 'demo:read');
  });
  afterAll(async () => broker?.stop());

  describe('token endpoint, client_credentials', () => {
    it('issues the agent its own credential (Cache-Control: no-store), with the token endpoint or the issuer as aud', async () => {
      const r = await form('/oauth/token', {
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER,
        client_assertion: await assertion(`${ISSUER}/oauth/token`),
        client_id: 'kp',
        audience: 'demo',
        scope: 'read',
        ttl: '2m',
      });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 120, scope: 'read', backend: 'demo', credential: null });
      expect((await own()).token_type).toBe('Bearer');
    });

    it('spends the assertion: a replay is 401 invalid_client with a challenge', async () => {
      const fields = { grant_type: 'client_credentials', ...(await asAgent()), audience: 'demo' };
      expect((await form('/oauth/token', fields)).status).toBe(200);
      const replay = await form('/oauth/token', fields);
      expect(replay.status).toBe(401);
      expect(replay.body).toMatchObject({ error: 'invalid_client', code: 'ERR_UNAUTHENTICATED' });
      expect(replay.headers.get('www-authenticate')).toContain('Bearer');
    });

    it.each<[string, Record<string, string>]>([
      ['another agent named in client_id', { client_id: 'other' }],
      ['a malformed assertion', { client_assertion: 'a.b.c' }],
    ])('refuses %s: 401 invalid_client', async (_, tweak) => {
      const r = await form('/oauth/token', { grant_type: 'client_credentials', ...(await asAgent()), audience: 'demo', ...tweak });
      expect(r.status, r.text).toBe(401);
      expect(r.body).toMatchObject({ error: 'invalid_client', code: 'ERR_UNAUTHENTICATED' });
    });

    it('refuses two client authentications at once, and a bearer agent token as client authentication', async () => {
      const both = await form(
        '/oauth/token',
        { grant_type: 'client_credentials', ...(await asAgent()), audience: 'demo' },
        { authorization: `Bearer ${otherToken}` },
      );
      expect(both.status).toBe(401);
      expect(both.body.error).toBe('invalid_client');
      const bare = await form(
        '/oauth/token',
        { grant_type: 'client_credentials', audience: 'demo' },
        { authorization: `Bearer ${otherToken}` },
      );
      expect(bare.status).toBe(400);
      expect(bare.body).toMatchObject({ error: 'invalid_request', code: 'ERR_BAD_REQUEST' });
    });

    it('answers scope and backend refusals as OAuth errors', async () => {
      const scope = await form('/oauth/token', {
        grant_type: 'client_credentials',
        ...(await asAgent()),
        audience: 'demo',
        scope: 'write',
      });
      expect(scope.body).toMatchObject({ error: 'invalid_scope', code: 'ERR_SCOPE_DENIED' });
      const target = await form('/oauth/token', { grant_type: 'client_credentials', ...(await asAgent()), audience: 'nope' });
      expect(target.body).toMatchObject({ error: 'invalid_target', code: 'ERR_BACKEND_UNKNOWN' });
    });
  });

  describe('introspection (RFC 7662)', () => {
    it("describes the agent's own active token, bound or not, whichever way the agent authenticates", async () => {
      const bound = await own(true);
      const withForm = await form('/oauth/introspect', { token: bound.access_token, ...(await asAgent()) });
      expect(withForm.status, withForm.text).toBe(200);
      expect(withForm.headers.get('cache-control')).toBe('no-store');
      expect(withForm.body).toMatchObject({
        active: true,
        sub: 'kp',
        client_id: 'kp',
        scope: 'read',
        backend: 'demo',
        aud: 'demo',
        iss: ISSUER,
        jti: bound.id,
        token_type: 'DPoP',
        cnf: { jkt: signer.jkt },
        exp: expect.any(Number),
      });
      const withHeader = await form(
        '/oauth/introspect',
        { token: bound.access_token, token_type_hint: 'access_token' },
        {
          authorization: `Bearer ${await assertion()}`,
        },
      );
      expect(withHeader.body).toMatchObject({ active: true, token_type: 'DPoP' });
      const bearer = await issue(broker.url, otherToken, { backend: 'demo' });
      const byToken = await form('/oauth/introspect', { token: bearer.body.token }, { authorization: `Bearer ${otherToken}` });
      expect(byToken.body).toMatchObject({ active: true, sub: 'other', token_type: 'Bearer' });
      expect(byToken.body.cnf).toBeUndefined();
    });

    it("reports another agent's token, a revoked, an expired, a foreign or a garbage token as {active: false} and nothing more", async () => {
      const theirs = (await issue(broker.url, otherToken, { backend: 'demo' })).body.token as string;
      const revoked = await own();
      expect((await form('/oauth/revoke', { token: revoked.access_token, ...(await asAgent()) })).status).toBe(200);
      const short = await form('/oauth/token', { grant_type: 'client_credentials', ...(await asAgent()), audience: 'demo', ttl: '60' });
      // Signed by the broker's key but never recorded: not a credential it issued.
      const unrecorded = broker.services.keyring.signer().sign({
        iss: ISSUER,
        sub: 'kp',
        aud: 'demo',
        client_id: 'kp',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 600,
        jti: 'never-issued-here',
        scope: 'read',
        backend: 'demo',
      });
      broker.clock.advance(61);
      try {
        for (const token of [theirs, revoked.access_token, short.body.access_token, unrecorded, 'garbage', `${theirs}x`]) {
          const r = await form('/oauth/introspect', { token, ...(await asAgent()) });
          expect(r.status, r.text).toBe(200);
          expect(r.body).toEqual({ active: false });
        }
      } finally {
        broker.clock.advance(-61);
      }
    });

    it('requires an agent: none, a wrong assertion or an OIDC-shaped token is 401 invalid_client, audited', async () => {
      const token = (await own()).access_token;
      const none = await form('/oauth/introspect', { token });
      expect(none.status).toBe(401);
      expect(none.body).toMatchObject({ error: 'invalid_client', code: 'ERR_UNAUTHENTICATED' });
      const bad = await form('/oauth/introspect', { token, client_assertion_type: JWT_BEARER, client_assertion: 'x.y.z' });
      expect(bad.status).toBe(401);
      const idToken = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(`{"iss":"https://idp.example"}`).toString('base64url')}.c2ln`;
      const oidc = await form('/oauth/introspect', { token }, { authorization: `Bearer ${idToken}` });
      expect(oidc.status).toBe(401);
      const [row] = await broker.services.store.audit.query({ type: 'auth.failed', limit: 1 });
      expect(row).toMatchObject({ requestId: oidc.body.request_id, details: expect.objectContaining({ path: '/oauth/introspect' }) });
      const missing = await form('/oauth/introspect', { ...(await asAgent()) });
      expect(missing.body).toMatchObject({ error: 'invalid_request', code: 'ERR_BAD_REQUEST' });
    });
  });

  describe('revocation (RFC 7009)', () => {
    it("revokes the agent's own token: deny-listed, audited with the agent as actor; again, or garbage, is still 200", async () => {
      const mine = await own();
      const r = await form('/oauth/revoke', { token: mine.access_token, ...(await asAgent()) });
      expect(r.status, r.text).toBe(200);
      expect(r.text).toBe('');
      const status = (await (await fetch(`${broker.url}/v1/revocations/${mine.id}`)).json()) as { revoked: boolean };
      expect(status.revoked).toBe(true);
      const [row] = await broker.services.store.audit.query({ type: 'credential.revoked', jti: mine.id, limit: 1 });
      expect(row).toMatchObject({ actor: 'kp', agent: 'kp', requestId: expect.any(String) });
      expect((await form('/oauth/revoke', { token: mine.access_token, ...(await asAgent()) })).status).toBe(200);
      expect((await form('/oauth/revoke', { token: 'not-a-token', ...(await asAgent()) })).status).toBe(200);
    });

    it("refuses another agent's token (400 unauthorized_client) and leaves it active", async () => {
      const theirs = await issue(broker.url, otherToken, { backend: 'demo' });
      const r = await form('/oauth/revoke', { token: theirs.body.token, ...(await asAgent()) });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'unauthorized_client', code: 'ERR_FORBIDDEN' });
      const status = (await (await fetch(`${broker.url}/v1/revocations/${theirs.body.id}`)).json()) as { revoked: boolean };
      expect(status.revoked).toBe(false);
    });
  });

  it('RFC 8414 metadata lists every endpoint, the auth methods and the DPoP algorithms; the OpenID document too', async () => {
    const metadata = (await (await fetch(`${broker.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata).toEqual({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      token_endpoint: `${ISSUER}/oauth/token`,
      introspection_endpoint: `${ISSUER}/oauth/introspect`,
      revocation_endpoint: `${ISSUER}/oauth/revoke`,
      grant_types_supported: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
      introspection_endpoint_auth_methods_supported: ['private_key_jwt'],
      introspection_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
      revocation_endpoint_auth_methods_supported: ['private_key_jwt'],
      revocation_endpoint_auth_signing_alg_values_supported: ['EdDSA'],
      dpop_signing_alg_values_supported: ['EdDSA', 'ES256'],
      response_types_supported: [],
      credentials_endpoint: `${ISSUER}/v1/credentials`,
      revocation_status_endpoint: `${ISSUER}/v1/revocations/{jti}`,
    });
    const openid = (await (await fetch(`${broker.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(openid).toMatchObject({ ...metadata, token_types_supported: ['at+jwt'], token_signing_alg_values_supported: ['EdDSA'] });
    // The endpoints are POST only; anything else stays a plain 404.
    for (const path of ['/oauth/introspect', '/oauth/revoke']) expect((await fetch(`${broker.url}${path}`)).status).toBe(404);
  });
});
