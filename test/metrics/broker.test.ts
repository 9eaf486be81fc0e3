/**
 * `GET /metrics` of a real broker, scraped after it issued, denied, failed upstream (GitHub and
 * AWS STS fakes answering 5xx), throttled, rotated its key and aged a secret past max_age: each
 * value and label read back from the Prometheus text, and nothing in it that a caller chose or
 * that is secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateKeys } from '../../src/keys/rotate.js';
import { putSecret } from '../../src/secrets/write.js';
import { BASE, ROLE, useBaseCredentials } from '../backends/aws/fixture.js';
import { APP_ID, INSTALLATION, INSTALLATION_PERMISSIONS } from '../backends/github/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { type FakeSts, startFakeSts } from '../fakes/sts.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { parseExposition, type Sample, sampleValue, scrape } from '../helpers/metrics.js';

let gh: FakeGitHub;
let sts: FakeSts;
let broker: TestBroker;
let token: string;
const issued: Array<{ token: string; jti: string; credential: unknown }> = [];

beforeAll(async () => {
  useBaseCredentials();
  const app = appKeyPair();
  gh = await startFakeGitHub({
    appId: APP_ID,
    appPublicKeyPem: app.publicKey,
    installations: [{ id: INSTALLATION, account: 'acme', repositories: ['acme/widgets'], permissions: INSTALLATION_PERMISSIONS }],
  });
  sts = await startFakeSts({ credentials: [BASE], roles: [{ arn: ROLE, maxSessionDuration: 43_200 }] });
  broker = await startBroker({
    metrics: true,
    files: { 'app.pem': app.privateKey },
    extra: ['auth_throttle:', '  max_failures: 2', '  window: 60s', '  block: 60s'].join('\n'),
    backends: (dir) =>
      [
        '  demo:',
        '    type: generic',
        '    allowed_scopes: [read, write]',
        '  gh:',
        '    type: github',
        `    app_id: ${APP_ID}`,
        `    private_key: \${file:${dir}/app.pem}`,
        `    installation_id: ${INSTALLATION}`,
        `    base_url: ${gh.url}`,
        '    allowed_scopes: ["contents:read"]',
        '  aws:',
        '    type: aws',
        `    role_arn: ${ROLE}`,
        '    region: us-east-1',
        `    endpoint: ${sts.url}`,
        '    request_timeout: 1s',
        '    default_ttl: 15m',
        '    allowed_scopes: ["s3:GetObject"]',
        '  vault:',
        '    type: secret',
        '    allowed_scopes: ["app/*"]',
        '    max_age: 1d',
      ].join('\n'),
  });
  token = await broker.agent('metrics-agent', 'demo:read,gh:contents:read,aws:s3:GetObject,vault:app/*');
});
afterAll(async () => {
  await broker?.stop();
  await gh?.close();
  await sts?.close();
});

const get = async (body: unknown): Promise<{ status: number; body: any }> => {
  const res = await issue(broker.url, token, body);
  if (res.status === 201) issued.push({ token: res.body.token, jti: res.body.id, credential: res.body.credential });
  return res;
};
const metrics = async (): Promise<Sample[]> => {
  const res = await scrape(broker.url);
  expect(res.status).toBe(200);
  return parseExposition(res.text);
};

describe('GET /metrics on the main port', () => {
  it('is Prometheus text, asks for no token, and starts every configured backend at zero', async () => {
    const res = await scrape(broker.url);
    expect(res.status).toBe(200);
    expect(res.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = parseExposition(res.text);
    for (const backend of ['demo', 'gh', 'aws', 'vault']) {
      expect(sampleValue(m, 'creddy_issuances_total', { backend, outcome: 'issued' })).toBe(0);
    }
    expect(sampleValue(m, 'creddy_backend_info', { backend: 'gh', type: 'github' })).toBe(1);
    // prom-client's process metrics
    expect(sampleValue(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(m, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('counts issuances by backend, outcome and code, with their latencies', async () => {
    for (let i = 0; i < 3; i++) expect((await get({ backend: 'demo', scopes: ['read'] })).status).toBe(201);
    expect((await get({ backend: 'demo', scopes: ['write'] })).status).toBe(403);
    expect((await get({ backend: 'no-such-backend', scopes: ['read'] })).status).toBe(404);

    const m = await metrics();
    expect(sampleValue(m, 'creddy_issuances_total', { backend: 'demo', outcome: 'issued', code: '' })).toBe(3);
    expect(sampleValue(m, 'creddy_issuances_total', { backend: 'demo', outcome: 'denied', code: 'ERR_SCOPE_DENIED' })).toBe(1);
    // The name a caller typed is never a label value.
    expect(sampleValue(m, 'creddy_issuances_total', { backend: '(unknown)', outcome: 'denied', code: 'ERR_BACKEND_UNKNOWN' })).toBe(1);
    expect(m.some((s) => Object.values(s.labels).includes('no-such-backend'))).toBe(false);

    expect(sampleValue(m, 'creddy_issuance_duration_seconds_count', { backend: 'demo', outcome: 'issued' })).toBe(3);
    expect(sampleValue(m, 'creddy_issuance_duration_seconds_count', { backend: 'demo', outcome: 'denied' })).toBe(1);
    expect(sampleValue(m, 'creddy_issuance_duration_seconds_sum', { backend: 'demo', outcome: 'issued' })).toBeGreaterThan(0);
    expect(sampleValue(m, 'creddy_mint_duration_seconds_count', { backend: 'demo' })).toBe(3);
    expect(sampleValue(m, 'creddy_sign_duration_seconds_count')).toBe(3);
    // Cumulative buckets end at +Inf with the count.
    expect(sampleValue(m, 'creddy_sign_duration_seconds_bucket', { le: '+Inf' })).toBe(3);

    // Group commit: every issuance and denial is an audit row in some batch; nothing is waiting now.
    expect(sampleValue(m, 'creddy_audit_batch_size_sum')).toBeGreaterThanOrEqual(5);
    expect(sampleValue(m, 'creddy_audit_commit_duration_seconds_count')).toBe(sampleValue(m, 'creddy_audit_batch_size_count'));
    expect(sampleValue(m, 'creddy_audit_queue_depth')).toBe(0);
    expect(sampleValue(m, 'creddy_audit_commit_failures_total')).toBe(0);
  });

  it('counts each GitHub attempt by status class, and a failed mint as an error', async () => {
    expect((await get({ backend: 'gh', scopes: ['contents:read'] })).status).toBe(201);
    let m = await metrics();
    // The installation lookup and the token: two calls, both 2xx.
    expect(sampleValue(m, 'creddy_upstream_calls_total', { backend: 'gh', status: '2xx' })).toBe(2);

    gh.faults.push({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const failed = await get({ backend: 'gh', scopes: ['contents:read'] });
    expect(failed.status).toBe(502);
    m = await metrics();
    expect(sampleValue(m, 'creddy_upstream_calls_total', { backend: 'gh', status: '5xx' })).toBe(4);
    expect(sampleValue(m, 'creddy_issuances_total', { backend: 'gh', outcome: 'issued' })).toBe(1);
    expect(sampleValue(m, 'creddy_issuances_total', { backend: 'gh', outcome: 'error', code: 'ERR_BACKEND_UPSTREAM' })).toBe(1);
    expect(sampleValue(m, 'creddy_mint_duration_seconds_count', { backend: 'gh' })).toBe(2);
  });

  it('counts each AWS STS attempt, the SDK retries included', async () => {
    sts.faults.push({ status: 500 });
    expect((await get({ backend: 'aws', scopes: ['s3:GetObject'] })).status).toBe(201);
    const m = await metrics();
    expect(sampleValue(m, 'creddy_upstream_calls_total', { backend: 'aws', status: '5xx' })).toBe(1);
    expect(sampleValue(m, 'creddy_upstream_calls_total', { backend: 'aws', status: '2xx' })).toBe(1);
    expect(sampleValue(m, 'creddy_issuances_total', { backend: 'aws', outcome: 'issued' })).toBe(1);
  });

  it('reports the signing key age and the next rotation, and follows a rotation', async () => {
    const keys = broker.services.config.keys;
    let m = await metrics();
    const age = sampleValue(m, 'creddy_signing_key_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
    expect(sampleValue(m, 'creddy_signing_key_rotation_in_seconds')).toBeCloseTo(keys.rotationPeriod - age, -2);
    expect(sampleValue(m, 'creddy_signing_keys', { state: 'current' })).toBe(1);
    expect(sampleValue(m, 'creddy_signing_keys', { state: 'next' })).toBe(1);
    expect(sampleValue(m, 'creddy_signing_keys', { state: 'retired' })).toBe(0);

    broker.clock.advance(2 * 3600);
    m = await metrics();
    expect(sampleValue(m, 'creddy_signing_key_age_seconds')).toBeGreaterThanOrEqual(7200);

    await rotateKeys(broker.services, { actor: 'cli' });
    await broker.services.keyring.refresh();
    m = await metrics();
    expect(sampleValue(m, 'creddy_signing_key_age_seconds')).toBeLessThan(60);
    expect(sampleValue(m, 'creddy_signing_keys', { state: 'retired' })).toBe(1);
    // The new next key was just published: the schedule waits for the rotation period now.
    expect(sampleValue(m, 'creddy_signing_key_rotation_in_seconds')).toBeGreaterThan(keys.rotationPeriod - 60);
  });

  it('counts secrets past their max_age when scraped (issue 15)', async () => {
    const s = broker.services;
    let m = await metrics();
    expect(sampleValue(m, 'creddy_secrets_due', { backend: 'vault' })).toBe(0);
    await putSecret(s, { path: 'app/db-password', value: 'hunter2-but-longer', generated: false, actor: 'cli' });
    await putSecret(s, { path: 'app/api-key', value: 'another-secret-value', generated: false, actor: 'cli' });
    expect((await get({ backend: 'vault', scopes: ['app/*'] })).status).toBe(201);
    m = await metrics();
    expect(sampleValue(m, 'creddy_secrets_due', { backend: 'vault' })).toBe(0);
    broker.clock.advance(2 * 86_400);
    m = await metrics();
    expect(sampleValue(m, 'creddy_secrets_due', { backend: 'vault' })).toBe(2);
  });

  it('counts failed authentications, the throttle block and its 429s', async () => {
    const attempt = async (): Promise<number> =>
      (await issue(broker.url, 'ckr_thisisnotavalidtokenbutlookslikeone1234567890abcdef', { backend: 'demo' })).status;
    expect([await attempt(), await attempt(), await attempt(), await attempt()]).toEqual([401, 401, 429, 429]);
    const m = await metrics();
    expect(sampleValue(m, 'creddy_auth_failures_total', { code: 'ERR_UNAUTHENTICATED' })).toBe(4);
    expect(sampleValue(m, 'creddy_auth_throttle_blocks_total')).toBe(1);
    expect(sampleValue(m, 'creddy_auth_throttled_total', { scope: 'address' })).toBe(2);
    expect(sampleValue(m, 'creddy_auth_throttled_total', { scope: 'global' })).toBe(0);
  });

  it('holds no secret, no token, no agent and no credential id, and every label is from a bounded set', async () => {
    const { text } = await scrape(broker.url);
    expect(issued.length).toBeGreaterThan(5);
    for (const leak of [token, 'metrics-agent', 'hunter2', 'another-secret-value', 'app/db-password', 'ckr_', 'ghs_', 'eyJ']) {
      expect(text).not.toContain(leak);
    }
    for (const i of issued) {
      expect(text).not.toContain(i.jti);
      expect(text).not.toContain(i.token.slice(-20));
    }
    const allowed: Record<string, RegExp> = {
      backend: /^(demo|gh|aws|vault|\(unknown\))$/,
      outcome: /^(issued|denied|error)$/,
      code: /^(ERR_[A-Z_]+)?$/,
      status: /^([1-5]xx|timeout|unreachable|ok|error)$/,
      scope: /^(address|global)$/,
      state: /^(next|current|retired|revoked)$/,
      type: /^(generic|github|aws|secret|postgres)$/,
    };
    for (const s of parseExposition(text).filter((x) => x.name.startsWith('creddy_'))) {
      for (const [label, value] of Object.entries(s.labels)) {
        if (label === 'le') continue;
        expect(allowed[label], `label ${label} of ${s.name}`).toBeDefined();
        expect(value, `${s.name}{${label}}`).toMatch(allowed[label]!);
      }
    }
  });
});
