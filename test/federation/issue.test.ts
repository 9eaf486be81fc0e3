/**
 * Federated issuance end to end, both ways in (Bearer on /v1/credentials, the RFC 8693 token
 * endpoint), with one policy: rule grants ∩ backend ceiling, TTL bounds, single_use across
 * replicas, first matching rule, audit rows that answer "which CI run got this credential".
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createApp } from '../../src/http/app.js';
import { createServices } from '../../src/services.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import { captureLogger } from '../helpers/harness.js';
import {
  AUDIENCE,
  baseYaml,
  exchange,
  exchangeForm,
  type FederationBroker,
  issueWith,
  rulesYaml,
  startFederationBroker,
} from './fixture.js';

let gha: FakeOidcIssuer;
let k8s: FakeOidcIssuer;
let broker: FederationBroker;

beforeAll(async () => {
  gha = await startFakeOidcIssuer();
  k8s = await startFakeOidcIssuer();
  broker = await startFederationBroker((dataDir) => baseYaml(dataDir) + rulesYaml(gha.url, k8s.url));
});
afterAll(async () => {
  await broker.stop();
  await gha.close();
  await k8s.close();
});

const claims = (overrides: Record<string, unknown> = {}, audience = AUDIENCE) => gha.githubClaims(audience, overrides, broker.clock.now());
const SUBJECT = 'gha:my-org/infra@refs/heads/main';

async function verifyIssued(token: string) {
  const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'http://127.0.0.1:8400', typ: 'at+jwt' })).payload;
}

describe('Bearer ID token on POST /v1/credentials', () => {
  it('issues under the rule: subject in the token, TTL clamped to the rule, facts of the run in the audit row', async () => {
    const idToken = gha.sign(claims());
    const res = await issueWith(broker.url, idToken, { backend: 'demo', scopes: ['read', 'files:reports/*'], ttl: '1h' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.scopes).toEqual(['read', 'files:reports/*']);
    expect(res.body.ttl).toEqual({ requested: 3600, granted: 600, clamped_by: 'rule_max_ttl' });
    const payload = await verifyIssued(res.body.token);
    expect(payload).toMatchObject({ sub: SUBJECT, client_id: SUBJECT, backend: 'demo', scope: 'read files:reports/*' });

    const [row] = await broker.services.store.audit.query({ jti: res.body.id, type: 'credential.issued', limit: 1 });
    expect(row).toMatchObject({ actor: SUBJECT, agent: SUBJECT, backend: 'demo', outcome: 'success' });
    const idClaims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString());
    expect(row!.details!['federation']).toEqual({
      rule: 'gha-deploy',
      issuer: gha.url,
      sub: 'repo:my-org/infra:environment:production',
      jti: idClaims.jti,
      run_id: '9876543210',
      claims: expect.objectContaining({
        repository: 'my-org/infra',
        ref: 'refs/heads/main',
        sha: idClaims.sha,
        workflow: 'deploy',
        run_id: '9876543210',
        run_attempt: '1',
        actor: 'octocat',
        environment: 'production',
        repository_owner_id: '1234567',
      }),
    });
    expect(JSON.stringify(row)).not.toContain(idToken.split('.')[2]);
  });

  it('redacts a token-shaped claim before it cuts it to 256 characters: the audit row keeps none of it', async () => {
    // The token starts 15 characters before the cut: cut first, `ckr_` and 11 more were kept
    // (too short there to look like a token); redacted first, all of it goes.
    const pasted = `ckr_${'Zq9'.repeat(16)}`;
    const long = `${'w'.repeat(240)} ${pasted}`;
    const res = await issueWith(broker.url, gha.sign(claims({ workflow: long, sub: long })), { backend: 'demo', scopes: ['read'] });
    expect(res.status, res.text).toBe(201);
    const [row] = await broker.services.store.audit.query({ jti: res.body.id, type: 'credential.issued', limit: 1 });
    const facts = row!.details!['federation'] as { sub: string; claims: Record<string, string> };
    expect(facts.sub).toBe(`${'w'.repeat(240)} [REDACTED]`);
    expect(facts.claims['workflow']).toBe(`${'w'.repeat(240)} [REDACTED]`);
    expect(JSON.stringify(row)).not.toContain('ckr_');
  });

  it('lists and revokes its own credentials with the same token', async () => {
    const idToken = gha.sign(claims());
    const issued = await issueWith(broker.url, idToken, { backend: 'demo' });
    const auth = { authorization: `Bearer ${idToken}` };
    const list = (await (await fetch(`${broker.url}/v1/credentials`, { headers: auth })).json()) as { credentials: Array<{ id: string }> };
    expect(list.credentials.map((c) => c.id)).toContain(issued.body.id);
    const revoked = await fetch(`${broker.url}/v1/credentials/${issued.body.id}`, { method: 'DELETE', headers: auth });
    expect(revoked.status).toBe(200);
  });

  it('grants only within the rule: another scope or backend is denied and audited with the rule', async () => {
    const write = await issueWith(broker.url, gha.sign(claims()), { backend: 'demo', scopes: ['write'] });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('ERR_SCOPE_DENIED');
    const other = await issueWith(broker.url, gha.sign(claims()), { backend: 'other' });
    expect(other.body.error.code).toBe('ERR_BACKEND_FORBIDDEN');
    const [row] = await broker.services.store.audit.query({ type: 'credential.denied', rule: 'gha-deploy', limit: 1 });
    expect(row).toMatchObject({ agent: SUBJECT, reason: 'ERR_BACKEND_FORBIDDEN' });
  });

  it('refuses a claim mismatch with 403; the audit row and the log name the closest rule and claim, the response does not', async () => {
    const res = await issueWith(broker.url, gha.sign(claims({ ref: 'refs/heads/dev' })), { backend: 'demo' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ERR_FEDERATION_NO_MATCH');
    expect(res.text).not.toContain('refs/heads/main');
    expect(res.text).not.toContain('gha-deploy');
    const [row] = await broker.services.store.audit.query({ type: 'auth.failed', limit: 1 });
    expect(row).toMatchObject({ reason: 'ERR_FEDERATION_NO_MATCH', requestId: res.body.error.request_id });
    expect(row!.details!['federation']).toMatchObject({
      reason: 'no_rule_matched',
      closest_rule: 'gha-deploy',
      failed: [{ claim: 'ref', expected: ['refs/heads/main'], actual: 'refs/heads/dev' }],
    });
    const log = broker.logLines.find((l) => l.includes('federated token refused') && l.includes(res.body.error.request_id));
    expect(log).toContain('closest_rule');
    expect(log).toContain('refs/heads/dev');
  });

  it('redacts a token-shaped claim of a refused ID token before it cuts it, in the audit row and the log', async () => {
    // Each token starts 10 characters before its cut: 256 for sub, 128 for a claim the rule checks.
    const token = `ckr_${'Zq9'.repeat(16)}`;
    const sub = `refs/heads/${'d'.repeat(234)}/${token}`;
    const owner = `${'o'.repeat(117)}/${token}`;
    const res = await issueWith(broker.url, gha.sign(claims({ repository_owner_id: owner, sub })), { backend: 'demo' });
    expect(res.status).toBe(403);
    const [row] = await broker.services.store.audit.query({ type: 'auth.failed', limit: 1 });
    expect(row).toMatchObject({ requestId: res.body.error.request_id });
    expect(row!.details!['federation']).toMatchObject({
      sub: `refs/heads/${'d'.repeat(234)}/[REDACTED]`,
      closest_rule: 'gha-deploy',
      failed: [{ claim: 'repository_owner_id', actual: `${'o'.repeat(117)}/[REDACTED]` }],
    });
    expect(JSON.stringify(row)).not.toContain('ckr_');
    const log = broker.logLines.find((l) => l.includes('federated token refused') && l.includes(res.body.error.request_id));
    expect(log).toContain('[REDACTED]');
    expect(log).not.toContain('ckr_');
  });

  it('refuses a lookalike owner and a nested repository against the my-org/* glob', async () => {
    for (const repository of ['my-org-evil/infra', 'my-org/infra/sub']) {
      const res = await issueWith(broker.url, gha.sign(claims({ repository })), { backend: 'demo' });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('ERR_FEDERATION_NO_MATCH');
    }
    // Right name, someone else's account: the owner id does not match.
    const res = await issueWith(broker.url, gha.sign(claims({ repository_owner_id: '999' })), { backend: 'demo' });
    expect(res.body.error.code).toBe('ERR_FEDERATION_NO_MATCH');
  });

  it('takes a Kubernetes service account token: array aud, nested claims', async () => {
    const token = k8s.sign(k8s.kubernetesClaims('creddy', {}, broker.clock.now()));
    const res = await issueWith(broker.url, token, { backend: 'other', ttl: '1h' });
    expect(res.status, res.text).toBe(201);
    expect((await verifyIssued(res.body.token)).sub).toBe('k8s:system:serviceaccount:ci:deployer');
    const wrongNs = k8s.sign(
      k8s.kubernetesClaims('creddy', { 'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'deployer' } } }),
    );
    expect((await issueWith(broker.url, wrongNs, { backend: 'other' })).body.error.code).toBe('ERR_FEDERATION_NO_MATCH');
  });

  it("never outlives the ID token's exp by more than the backend's max_ttl", async () => {
    const t = Math.floor(broker.clock.now() / 1000);
    // Expired 30 s ago, still inside the 60 s skew: at most exp + max_ttl (1h) from now.
    const token = k8s.sign(k8s.kubernetesClaims('creddy', { iat: t - 3600, nbf: t - 3600, exp: t - 30 }, broker.clock.now()));
    const res = await issueWith(broker.url, token, { backend: 'other', ttl: '1h' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.ttl.clamped_by).toBe('id_token_exp');
    expect(res.body.ttl.granted).toBeLessThanOrEqual(3600 - 30);
  });

  it('agent tokens keep working beside ID tokens', async () => {
    const { createAgent } = await import('../../src/agents/create.js');
    const { token } = await createAgent(broker.services, {
      name: 'bot',
      grants: [{ backend: 'demo', scope: 'read' }],
      ttlSeconds: null,
      actor: 'cli',
    });
    expect((await issueWith(broker.url, token, { backend: 'demo' })).status).toBe(201);
  });
});

describe('RFC 8693 token endpoint', () => {
  it('exchanges an ID token: standard members, creddy credential, no-store', async () => {
    const res = await exchange(broker.url, exchangeForm(gha.sign(claims()), 'demo', { scope: 'read files:a' }));
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'read files:a',
      credential: null,
      backend: 'demo',
    });
    expect((await verifyIssued(res.body.access_token)).sub).toBe(SUBJECT);
    const [row] = await broker.services.store.audit.query({ jti: res.body.id, limit: 1 });
    expect(row!.details!['federation']).toMatchObject({ rule: 'gha-deploy', run_id: '9876543210' });
  });

  it('answers OAuth errors with creddy codes: invalid_grant, invalid_scope, invalid_target', async () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [exchangeForm(gha.sign(claims({ ref: 'refs/heads/x' })), 'demo'), 'invalid_grant', 'ERR_FEDERATION_NO_MATCH'],
      [exchangeForm(gha.unsigned(claims()), 'demo'), 'invalid_grant', 'ERR_ID_TOKEN_INVALID'],
      [exchangeForm(gha.sign(claims()), 'demo', { scope: 'write' }), 'invalid_scope', 'ERR_SCOPE_DENIED'],
      [exchangeForm(gha.sign(claims()), 'other'), 'invalid_target', 'ERR_BACKEND_FORBIDDEN'],
      [exchangeForm(gha.sign(claims()), 'nope'), 'invalid_target', 'ERR_BACKEND_UNKNOWN'],
      [exchangeForm('ckr_not-an-id-token', 'demo'), 'invalid_grant', 'ERR_ID_TOKEN_INVALID'],
    ];
    for (const [form, error, code] of cases) {
      const res = await exchange(broker.url, form);
      expect(res.status, res.text).toBe(400);
      expect(res.body).toMatchObject({ error, code, request_id: expect.any(String), error_description: expect.any(String) });
      expect(res.text).not.toContain(form['subject_token']!.split('.')[1] ?? form['subject_token']);
    }
  });
});

describe('single_use', () => {
  it('exchanges a token once, whichever way in, and across replicas sharing the store', async () => {
    const first = gha.sign(claims({}, 'https://once.example'));
    expect((await exchange(broker.url, exchangeForm(first, 'demo'))).status).toBe(200);
    const again = await exchange(broker.url, exchangeForm(first, 'demo'));
    expect(again.body).toMatchObject({ error: 'invalid_grant', code: 'ERR_ID_TOKEN_REPLAYED' });
    const bearer = await issueWith(broker.url, first, { backend: 'demo' });
    expect(bearer.status).toBe(401);
    expect(bearer.body.error.code).toBe('ERR_ID_TOKEN_REPLAYED');
    const [row] = await broker.services.store.audit.query({ rule: 'gha-once', type: 'auth.failed', limit: 1 });
    expect(row!.details!['federation']).toMatchObject({ reason: 'replayed', rule: 'gha-once' });

    // A second replica: its own process state, the same store.
    const config = parseConfig(readFileSync(broker.configPath, 'utf8'), broker.configPath, broker.env);
    const replica = await createServices(config, {
      env: broker.env,
      logger: captureLogger().logger,
      clock: broker.clock,
      actor: 'server',
      store: createSqliteStore(config.store.kind === 'sqlite' ? config.store.path : '', { auditOffThread: false }),
    });
    try {
      const app = createApp(replica);
      const second = gha.sign(claims({}, 'https://once.example'));
      const send = (token: string) =>
        app.request('/oauth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(exchangeForm(token, 'demo')).toString(),
        });
      expect(((await (await send(first)).json()) as { code: string }).code).toBe('ERR_ID_TOKEN_REPLAYED');
      const [a, b] = await Promise.all([send(second), exchange(broker.url, exchangeForm(second, 'demo'))]);
      expect([a.status, b.status].sort()).toEqual([200, 400]);
    } finally {
      await replica.close();
    }
  });

  it('does not spend the token on list or revoke', async () => {
    const token = gha.sign(claims({}, 'https://once.example'));
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`${broker.url}/v1/credentials`, { headers: auth })).status).toBe(200);
    expect((await issueWith(broker.url, token, { backend: 'demo' })).status).toBe(201);
  });
});

describe('audit list by rule and run', () => {
  it('finds one CI run with one indexed query', async () => {
    const res = await issueWith(broker.url, gha.sign(claims({ run_id: '4242', repository: 'my-org/web' })), { backend: 'demo' });
    expect(res.status).toBe(201);
    const rows = await broker.services.store.audit.query({ runId: '4242', limit: 10 });
    expect(rows.map((r) => [r.type, r.jti, r.agent])).toEqual([['credential.issued', res.body.id, 'gha:my-org/web@refs/heads/main']]);
    expect((await broker.services.store.audit.query({ rule: 'gha-deploy', runId: '4242', limit: 10 })).length).toBe(1);
    expect((await broker.services.store.audit.query({ rule: 'k8s-ci', runId: '4242', limit: 10 })).length).toBe(0);
  });
});
