import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agents/create.js';
import { parseGrants } from '../../src/agents/grants.js';
import { type AgentSigner, createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createClientAssertion, createDpopProof } from '../../src/client/proofs.js';
import { DEMO_BACKEND, lastOutcome, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * DPoP-bound issuance (RFC 9449 §5): a valid proof on `POST /v1/credentials` or the token
 * endpoint binds the credential to the proof's key (`cnf.jkt`, `token_type: DPoP`, the jkt in
 * the audit row); `require_dpop` on a backend or an agent makes the proof mandatory; a proof is
 * checked for the issuer's URL, POST, no `ath`, freshness, and used once.
 */
const ISSUER = 'http://127.0.0.1:8400';
const CREDENTIALS = `${ISSUER}/v1/credentials`;
const TOKEN = `${ISSUER}/oauth/token`;

describe('DPoP-bound issuance', () => {
  let broker: TestBroker;
  let bearer: string;
  let strict: string;
  let proofKey: AgentSigner;

  const post = async (path: string, authorization: string, body: unknown, dpop?: string) => {
    const res = await fetch(`${broker.url}${path}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', ...(dpop ? { dpop } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };
  const token = (path: string, form: Record<string, string>, dpop?: string) =>
    fetch(`${broker.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(dpop ? { dpop } : {}) },
      body: new URLSearchParams(form).toString(),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
  const proof = (url = CREDENTIALS, extra: { method?: string; accessToken?: string; now?: () => number } = {}) =>
    createDpopProof(proofKey, { method: extra.method ?? 'POST', url, accessToken: extra.accessToken, now: extra.now });

  beforeAll(async () => {
    broker = await startBroker({
      backends: `${DEMO_BACKEND}
  bound-only:
    type: generic
    require_dpop: true
    allowed_scopes: [read]
    default_scopes: [read]`,
    });
    bearer = `Bearer ${await broker.agent('plain', 'demo:read,bound-only:read')}`;
    const { token: strictToken } = await createAgent(broker.services, {
      name: 'strict',
      grants: parseGrants('demo:read', broker.services),
      ttlSeconds: null,
      actor: 'cli',
      requireDpop: true,
    });
    strict = `Bearer ${strictToken}`;
    proofKey = await createAgentSigner((await generateAgentKey()).privateJwk);
  });
  afterAll(async () => broker?.stop());

  it('binds the credential to the proof key: cnf.jkt, token_type DPoP, the jkt in the audit row', async () => {
    const r = await post('/v1/credentials', bearer, { backend: 'demo' }, await proof());
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.token_type).toBe('DPoP');
    expect(decodeJwt(r.body.token).cnf).toEqual({ jkt: proofKey.jkt });
    const { row } = await lastOutcome(broker, 'plain');
    expect(row?.details).toMatchObject({ dpop_jkt: proofKey.jkt });
    // The alias route signs its own path.
    const alias = await post('/v1/credentials/demo', bearer, {}, await proof(`${CREDENTIALS}/demo`));
    expect(alias.status, JSON.stringify(alias.body)).toBe(201);
    expect(alias.body.token_type).toBe('DPoP');
    // Without a proof: a bearer credential, as before.
    const plain = await post('/v1/credentials', bearer, { backend: 'demo' });
    expect(plain.body.token_type).toBe('Bearer');
    expect(decodeJwt(plain.body.token).cnf).toBeUndefined();
  });

  it.each<[string, () => Promise<string>]>([
    ['a proof for the address the broker was reached at, not its issuer', async () => proof(`${broker.url}/v1/credentials`)],
    ['a proof for another path', async () => proof(TOKEN)],
    ['a proof for GET', async () => proof(CREDENTIALS, { method: 'GET' })],
    ['a proof that carries ath (made for presenting a token)', async () => proof(CREDENTIALS, { accessToken: 'a.b.c' })],
    ['a stale proof', async () => proof(CREDENTIALS, { now: () => broker.clock.now() - 200_000 })],
    ['a proof from the future', async () => proof(CREDENTIALS, { now: () => broker.clock.now() + 200_000 })],
    ['something that is no proof', async () => 'not-a-jws'],
  ])('refuses %s: 401 ERR_DPOP_INVALID, a credential.denied row', async (_, make) => {
    const r = await post('/v1/credentials', bearer, { backend: 'demo' }, await make());
    expect(r.status, JSON.stringify(r.body)).toBe(401);
    expect(r.body.error.code).toBe('ERR_DPOP_INVALID');
    const { row } = await lastOutcome(broker, 'plain');
    expect(row).toMatchObject({ type: 'credential.denied', reason: 'ERR_DPOP_INVALID', requestId: r.body.error.request_id });
    // A DPoP challenge (RFC 9449 §7.1), not invalid_token: the agent's token is fine.
    expect(r.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof", algs="EdDSA/);
  });

  it('uses each proof once', async () => {
    const once = await proof();
    expect((await post('/v1/credentials', bearer, { backend: 'demo' }, once)).status).toBe(201);
    const replay = await post('/v1/credentials', bearer, { backend: 'demo' }, once);
    expect(replay.status).toBe(401);
    expect(replay.body.error.message).toContain('replay');
    // The denial's row says which check failed, not only ERR_DPOP_INVALID.
    const { row } = await lastOutcome(broker, 'plain');
    expect(row).toMatchObject({ reason: 'ERR_DPOP_INVALID', details: { why: 'jti was already used (replay)' } });
  });

  it('does not spend a proof on a request refused for other reasons', async () => {
    const kept = await proof();
    expect((await post('/v1/credentials', bearer, { backend: 'demo', scopes: ['write'] }, kept)).body.error.code).toBe('ERR_SCOPE_DENIED');
    expect((await post('/v1/credentials', bearer, { backend: 'demo' }, kept)).status).toBe(201);
  });

  it('require_dpop on a backend: no proof, no credential; a proof, a bound one', async () => {
    const refused = await post('/v1/credentials', bearer, { backend: 'bound-only' });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toMatchObject({ code: 'ERR_DPOP_INVALID', details: { reason: 'proof_required' } });
    expect((await lastOutcome(broker, 'plain')).row).toMatchObject({ type: 'credential.denied', reason: 'ERR_DPOP_INVALID' });
    const bound = await post('/v1/credentials', bearer, { backend: 'bound-only' }, await proof());
    expect(bound.status).toBe(201);
    expect(bound.body.token_type).toBe('DPoP');
  });

  it('require_dpop on an agent: every credential it gets is bound', async () => {
    const refused = await post('/v1/credentials', strict, { backend: 'demo' });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toContain('agent "strict" requires DPoP');
    const bound = await post('/v1/credentials', strict, { backend: 'demo' }, await proof());
    expect(bound.body.token_type).toBe('DPoP');
  });

  it('binds at the token endpoint too (client_credentials with a key-pair agent), and refuses an unbound one where required', async () => {
    const key = await broker.keyPairAgent('kp-strict', 'demo:read', { requireDpop: true });
    const signer = await createAgentSigner(key.privateJwk);
    const form = async () => ({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await createClientAssertion(signer, { agent: 'kp-strict', audience: TOKEN }),
      audience: 'demo',
    });
    const unbound = await token('/oauth/token', await form());
    expect(unbound.status).toBe(400);
    expect(unbound.body).toMatchObject({ error: 'invalid_dpop_proof', code: 'ERR_DPOP_INVALID' });
    // The agent's own key makes the proof, as the client SDK does by default.
    const bound = await token('/oauth/token', await form(), await createDpopProof(signer, { method: 'POST', url: TOKEN }));
    expect(bound.status, JSON.stringify(bound.body)).toBe(200);
    expect(bound.body).toMatchObject({ token_type: 'DPoP', scope: 'read' });
    expect(decodeJwt(bound.body.access_token).cnf).toEqual({ jkt: key.jkt });
    const wrongUrl = await token('/oauth/token', await form(), await createDpopProof(signer, { method: 'POST', url: CREDENTIALS }));
    expect(wrongUrl.body).toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
