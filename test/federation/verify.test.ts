/**
 * Hostile and broken ID tokens against a real broker and loopback fake issuers: every refusal
 * has its code, echoes no token, and leaves an audit row and a log line saying what failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KID_REFETCH_COOLDOWN_MS } from '../../src/agents/federation/issuer-keys.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
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

const claims = (overrides: Record<string, unknown> = {}) => gha.githubClaims(AUDIENCE, overrides, broker.clock.now());
const now = () => Math.floor(broker.clock.now() / 1000);

/** Presents `token` as a bearer; asserts status and code, and that the token is nowhere in the answer or the log. */
async function refused(token: string, status: number, code: string): Promise<any> {
  const res = await issueWith(broker.url, token, { backend: 'demo', scopes: ['read'] });
  expect(res.status, res.text).toBe(status);
  expect(res.body.error.code).toBe(code);
  const signature = token.split('.')[2]!;
  expect(res.text).not.toContain(token.split('.')[1]!);
  for (const line of broker.logLines) {
    expect(line).not.toContain(token.split('.')[1]!);
    if (signature.length > 10) expect(line).not.toContain(signature);
  }
  return res.body;
}

/** The latest auth.failed row's federation diagnosis. */
async function lastDiagnosis(): Promise<Record<string, any>> {
  const [row] = await broker.services.store.audit.query({ type: 'auth.failed', limit: 1 });
  return row!.details!['federation'] as Record<string, any>;
}

describe('ID token verification', () => {
  it('accepts a good token (the baseline every case below changes one thing of)', async () => {
    const res = await issueWith(broker.url, gha.sign(claims()), { backend: 'demo', scopes: ['read'] });
    expect(res.status, res.text).toBe(201);
  });

  it('refuses alg none', async () => {
    await refused(gha.unsigned(claims()), 401, 'ERR_ID_TOKEN_INVALID');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'alg' });
  });

  it("refuses HS256 keyed with the issuer's public key (algorithm confusion)", async () => {
    await refused(gha.hs256WithPublicKey(claims()), 401, 'ERR_ID_TOKEN_INVALID');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'alg' });
  });

  it('refuses a tampered payload', async () => {
    const [h, , s] = gha.sign(claims()).split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(claims({ repository: 'my-org/prod' }))).toString('base64url')}.${s}`;
    await refused(forged, 401, 'ERR_ID_TOKEN_INVALID');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'signature' });
  });

  it('refuses an issuer no rule trusts, and lookalikes of a trusted one, even with a good signature', async () => {
    for (const iss of ['https://token.actions.githubusercontent.com', `${gha.url}/`, `${gha.url}.evil.example`, gha.url.toUpperCase()]) {
      await refused(gha.sign(claims({ iss })), 401, 'ERR_ID_TOKEN_INVALID');
      expect(await lastDiagnosis()).toMatchObject({ reason: 'untrusted_issuer' });
    }
  });

  it('refuses a wrong audience, and the audit row names the closest rule and the aud it saw', async () => {
    await refused(gha.sign(claims({ aud: 'https://sts.amazonaws.com' })), 401, 'ERR_ID_TOKEN_INVALID');
    const diagnosis = await lastDiagnosis();
    expect(diagnosis).toMatchObject({ reason: 'aud', unverified: true, closest_rule: 'gha-deploy' });
    expect(diagnosis['failed']).toContainEqual({ claim: 'aud', expected: [AUDIENCE], actual: 'https://sts.amazonaws.com' });
  });

  it('refuses an expired token, but allows the configured clock skew', async () => {
    await refused(gha.sign(claims({ iat: now() - 600, nbf: now() - 600, exp: now() - 61 })), 401, 'ERR_ID_TOKEN_EXPIRED');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'exp' });
    const skewed = await issueWith(broker.url, gha.sign(claims({ iat: now() - 600, nbf: now() - 600, exp: now() - 30 })), {
      backend: 'demo',
    });
    expect(skewed.status, skewed.text).toBe(201);
  });

  it('refuses nbf or iat in the future beyond the skew', async () => {
    await refused(gha.sign(claims({ nbf: now() + 300 })), 401, 'ERR_ID_TOKEN_EXPIRED');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'nbf' });
    await refused(gha.sign(claims({ iat: now() + 300 })), 401, 'ERR_ID_TOKEN_EXPIRED');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'iat' });
  });

  it('refuses a token without exp', async () => {
    const { exp: _, ...rest } = claims();
    await refused(gha.sign(rest), 401, 'ERR_ID_TOKEN_INVALID');
  });

  it('refuses an access token (typ at+jwt) even from a trusted issuer', async () => {
    await refused(gha.sign(claims(), { header: { typ: 'at+jwt' } }), 401, 'ERR_ID_TOKEN_INVALID');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'typ' });
  });

  it("refuses creddy's own credentials as identities", async () => {
    const own = await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' });
    await refused(own.body.token, 401, 'ERR_ID_TOKEN_INVALID');
  });

  it('refuses malformed bearers as before (not JWTs, oversized)', async () => {
    await refused('eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln', 401, 'ERR_ID_TOKEN_INVALID');
    const huge = gha.sign(claims({ pad: 'x'.repeat(9000) }));
    const res = await issueWith(broker.url, huge, { backend: 'demo' });
    expect(res.status).toBe(401);
  });
});

describe('issuer keys', () => {
  it('refetches once for an unknown kid, then holds off for 30 s however many random kids arrive', async () => {
    // Warm: keys are cached, and the last fetch is recent.
    expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
    broker.clock.advance(KID_REFETCH_COOLDOWN_MS / 1000 + 1);
    const before = gha.hits.jwks;
    await refused(gha.sign(claims(), { unpublished: true }), 401, 'ERR_ID_TOKEN_INVALID');
    expect(await lastDiagnosis()).toMatchObject({ reason: 'unknown_kid' });
    expect(gha.hits.jwks).toBe(before + 1);
    for (let i = 0; i < 20; i++) {
      await refused(gha.sign(claims(), { unpublished: true, header: { kid: `random-${i}` } }), 401, 'ERR_ID_TOKEN_INVALID');
    }
    expect(gha.hits.jwks).toBe(before + 1);
    // A rotation at the issuer is picked up once the cooldown has passed.
    gha.rotate();
    broker.clock.advance(KID_REFETCH_COOLDOWN_MS / 1000 + 1);
    const res = await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' });
    expect(res.status, res.text).toBe(201);
    expect(gha.hits.jwks).toBe(before + 2);
  });

  it('caches keys per Cache-Control and refetches when they expire', async () => {
    expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
    const before = gha.hits.jwks;
    expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
    expect(gha.hits.jwks).toBe(before);
    broker.clock.advance(301); // max-age=300
    expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
    expect(gha.hits.jwks).toBe(before + 1);
  });

  it('fails closed for an issuer that is down, while other issuers keep working', async () => {
    k8s.setDown(true);
    try {
      const token = k8s.sign(k8s.kubernetesClaims('creddy', {}, broker.clock.now()));
      const bearer = await issueWith(broker.url, token, { backend: 'other' });
      expect(bearer.status).toBe(503);
      expect(bearer.body.error.code).toBe('ERR_ISSUER_UNAVAILABLE');
      const viaEndpoint = await exchange(broker.url, exchangeForm(token, 'other'));
      expect(viaEndpoint.status).toBe(503);
      expect(viaEndpoint.body).toMatchObject({ error: 'temporarily_unavailable', code: 'ERR_ISSUER_UNAVAILABLE' });
      expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
      expect(broker.logLines.some((l) => l.includes('cannot fetch issuer keys') && l.includes(k8s.url))).toBe(true);
    } finally {
      k8s.setDown(false);
    }
    broker.clock.advance(6); // past the failure back-off
    const back = await issueWith(broker.url, k8s.sign(k8s.kubernetesClaims('creddy', {}, broker.clock.now())), { backend: 'other' });
    expect(back.status, back.text).toBe(201);
  });

  it('keeps using cached keys through a short outage, not a long one', async () => {
    expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
    gha.setDown(true);
    try {
      broker.clock.advance(301); // cache expired; the refetch fails; stale keys are still acceptable
      expect((await issueWith(broker.url, gha.sign(claims()), { backend: 'demo' })).status).toBe(201);
      broker.clock.advance(601); // beyond the stale-if-error window
      await refused(gha.sign(claims()), 503, 'ERR_ISSUER_UNAVAILABLE');
    } finally {
      gha.setDown(false);
    }
    broker.clock.advance(6);
  });
});
