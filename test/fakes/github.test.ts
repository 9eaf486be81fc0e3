import { generateKeyPairSync } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { request } from '@octokit/request';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from './github.js';
import { JWT_ERRORS } from './github-jwt.js';

const APP_ID = 4242;
const INSTALLATION = 7;
const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
const app = rsa();
const now = () => Math.floor(Date.now() / 1000);

/** Signs an App JWT shaped like @octokit/auth-app's (iat backdated 30 s, 10-minute lifetime). */
async function appJwt(o: { privateKey?: string; iss?: string | number; iat?: number; exp?: number; alg?: string } = {}) {
  const iat = o.iat ?? now() - 30;
  const key = await importPKCS8(o.privateKey ?? app.privateKey, 'RS256');
  return new SignJWT({ iss: o.iss ?? APP_ID } as Record<string, unknown>)
    .setProtectedHeader({ alg: o.alg ?? 'RS256' })
    .setIssuedAt(iat)
    .setExpirationTime(o.exp ?? iat + 600)
    .sign(key);
}
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

let gh: FakeGitHub;
beforeAll(async () => {
  gh = await startFakeGitHub({
    appId: APP_ID,
    appPublicKeyPem: app.publicKey,
    installations: [
      {
        id: INSTALLATION,
        account: 'acme',
        repositories: ['acme/widgets', 'acme/gadgets'],
        permissions: { contents: 'write', issues: 'write', metadata: 'read' },
      },
    ],
  });
});
afterAll(() => gh.close());

async function call(method: string, path: string, authorization?: string, body?: unknown) {
  const res = await fetch(gh.url + path, {
    method,
    headers: { accept: 'application/vnd.github+json', ...(authorization && { authorization }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}
const mint = async (body?: unknown, jwt?: string) =>
  call('POST', `/app/installations/${INSTALLATION}/access_tokens`, `Bearer ${jwt ?? (await appJwt())}`, body);

describe('fake GitHub: installation lookup', () => {
  it('finds the installation by id, org, user and repo with an App JWT', async () => {
    const auth = `Bearer ${await appJwt()}`;
    for (const path of [
      `/app/installations/${INSTALLATION}`,
      '/orgs/acme/installation',
      '/users/ACME/installation',
      '/repos/acme/widgets/installation',
    ]) {
      const r = await call('GET', path, auth);
      expect(r.status, path).toBe(200);
      expect(r.json).toMatchObject({ id: INSTALLATION, account: { login: 'acme' }, permissions: { contents: 'write' } });
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    }
    expect((await call('GET', '/repos/acme/unknown/installation', auth)).status).toBe(404);
    expect((await call('GET', '/orgs/nobody/installation', auth)).json).toMatchObject({ message: 'Not Found' });
    expect((await call('GET', '/nope', auth)).status).toBe(404);
  });
});

describe('fake GitHub: App JWT checks', () => {
  const otherKey = rsa().privateKey;
  const cases: Array<[string, () => Promise<string | undefined>, string]> = [
    ['missing header', async () => undefined, JWT_ERRORS.missing],
    ['wrong key', async () => `Bearer ${await appJwt({ privateKey: otherKey })}`, JWT_ERRORS.undecodable],
    [
      'alg none',
      async () => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: APP_ID, iat: now() - 30, exp: now() + 500 })}.`,
      JWT_ERRORS.undecodable,
    ],
    // Classic key confusion: HMAC keyed with the (public) RSA key PEM.
    [
      'HS256 with public key',
      async () =>
        `Bearer ${await new SignJWT({ iss: APP_ID } as Record<string, unknown>)
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt(now() - 30)
          .setExpirationTime(now() + 500)
          .sign(new TextEncoder().encode(app.publicKey))}`,
      JWT_ERRORS.undecodable,
    ],
    ['wrong iss', async () => `Bearer ${await appJwt({ iss: 999 })}`, JWT_ERRORS.undecodable],
    ['exp too far', async () => `Bearer ${await appJwt({ iat: now(), exp: now() + 700 })}`, JWT_ERRORS.tooFar],
    ['expired', async () => `Bearer ${await appJwt({ iat: now() - 700, exp: now() - 100 })}`, JWT_ERRORS.expired],
    ['iat in the future', async () => `Bearer ${await appJwt({ iat: now() + 300, exp: now() + 500 })}`, JWT_ERRORS.badIat],
    ['installation token', async () => `Bearer ${(await mint()).json?.token}`, JWT_ERRORS.undecodable],
  ];
  it.each(cases)('rejects %s with 401', async (_, auth, message) => {
    const authorization = await auth();
    const before = gh.requests.length;
    const r = await call('POST', `/app/installations/${INSTALLATION}/access_tokens`, authorization);
    expect(r.status).toBe(401);
    expect(r.json?.message).toBe(message);
    expect((await call('GET', `/app/installations/${INSTALLATION}`, authorization)).status).toBe(401);
    expect(gh.requests.length).toBe(before); // rejected calls are not recorded
  });

  it('accepts string iss and the exact octokit timing', async () => {
    expect((await mint(undefined, await appJwt({ iss: String(APP_ID) }))).status).toBe(201);
    expect((await mint(undefined, await appJwt({ iat: now() - 30, exp: now() + 570 }))).status).toBe(201);
  });
});

describe('fake GitHub: installation tokens', () => {
  it('mints a narrowed token and records the request', async () => {
    const body = { repositories: ['widgets'], permissions: { contents: 'read' } };
    const r = await mint(body);
    expect(r.status).toBe(201);
    const token = r.json?.token as string;
    expect(token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(r.json?.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(r.json?.expires_at) - Date.now()).toBeGreaterThan(3_590_000);
    expect(r.json).toMatchObject({
      permissions: { contents: 'read' },
      repository_selection: 'selected',
      repositories: [{ id: expect.any(Number), name: 'widgets', full_name: 'acme/widgets' }],
    });
    expect(gh.requests.at(-1)).toEqual({
      method: 'POST',
      path: `/app/installations/${INSTALLATION}/access_tokens`,
      body,
      installationId: INSTALLATION,
    });
    expect(gh.tokens.get(token)).toMatchObject({
      installationId: INSTALLATION,
      permissions: { contents: 'read' },
      repositories: ['acme/widgets'],
      revoked: false,
    });

    const repos = await call('GET', '/installation/repositories', `token ${token}`);
    expect(repos.json?.repositories.map((x: { full_name: string }) => x.full_name)).toEqual(['acme/widgets']);
  });

  it('narrows by repository_ids and gives the full grant when nothing is requested', async () => {
    const id = (await mint({ repositories: ['gadgets'] })).json?.repositories[0].id as number;
    expect((await mint({ repository_ids: [id] })).json?.repositories).toEqual([{ id, name: 'gadgets', full_name: 'acme/gadgets' }]);
    const full = await mint();
    expect(full.json).toMatchObject({ repository_selection: 'all', permissions: { contents: 'write', issues: 'write', metadata: 'read' } });
    expect((await call('GET', '/installation/repositories', `token ${full.json?.token}`)).json?.total_count).toBe(2);
  });

  it.each([
    ['level above the grant', { permissions: { contents: 'admin' } }],
    ['permission not granted', { permissions: { administration: 'read' } }],
    ['unknown level', { permissions: { contents: 'superuser' } }],
    ['repo outside installation', { repositories: ['secret'] }],
    ['owner-qualified name', { repositories: ['acme/widgets'] }],
    ['unknown repository id', { repository_ids: [424242] }],
  ])('rejects escalation (%s) with 422', async (_, body) => {
    const before = gh.tokens.size;
    expect((await mint(body)).status).toBe(422);
    expect(gh.tokens.size).toBe(before);
  });

  it('revokes a token with DELETE; it then no longer works', async () => {
    const token = (await mint({ repositories: ['widgets'] })).json?.token as string;
    expect((await call('GET', '/installation/repositories', `Bearer ${token}`)).status).toBe(200);
    expect((await call('DELETE', '/installation/token', `token ${token}`)).status).toBe(204);
    expect(gh.tokens.get(token)?.revoked).toBe(true);
    expect((await call('GET', '/installation/repositories', `token ${token}`)).status).toBe(401);
    expect((await call('DELETE', '/installation/token', `token ${token}`)).status).toBe(401);
    expect((await call('DELETE', '/installation/token', 'token ghs_unknown')).status).toBe(401);
  });
});

describe('fake GitHub: faults', () => {
  it.each([500, 502, 503] as const)('returns %i once, then recovers', async (status) => {
    gh.faults.push({ status });
    const before = gh.requests.length;
    const r = await mint();
    expect(r.status).toBe(status);
    expect(r.json?.message).toEqual(expect.any(String));
    expect((await mint()).status).toBe(201);
    expect(gh.requests.length - before).toBe(2); // faulted attempts are recorded too
  });

  it('returns a secondary rate limit with retry-after', async () => {
    gh.faults.push({ status: 403, secondaryRateLimit: true, retryAfter: 7 });
    const r = await mint();
    expect(r.status).toBe(403);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(r.json?.message).toMatch(/secondary rate limit/);
  });

  it('returns a malformed 201 body, having made the token (the body broke off, not the work)', async () => {
    const tokens = gh.tokens.size;
    gh.faults.push({ malformed: true });
    const res = await fetch(`${gh.url}/app/installations/${INSTALLATION}/access_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await appJwt()}` },
    });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(() => JSON.parse(text)).toThrow();
    expect(gh.tokens.size).toBe(tokens + 1);
  });

  it('makes the token, then resets the connection instead of answering', async () => {
    const tokens = gh.tokens.size;
    gh.faults.push({ dropAfterMint: true });
    const error = await mint().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TypeError); // fetch failed: no status, no body
    expect(String((error as Error).cause)).toMatch(/ECONNRESET|other side closed|socket/i);
    expect(gh.tokens.size).toBe(tokens + 1);
    expect((await mint()).status).toBe(201); // one fault, one request
  });

  it('delays, then answers normally', async () => {
    gh.faults.push({ delayMs: 300 });
    const t0 = Date.now();
    expect((await mint()).status).toBe(201);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('does not spend a fault on an unauthenticated request', async () => {
    gh.faults.push({ status: 503 });
    expect((await mint(undefined, await appJwt({ privateKey: rsa().privateKey }))).status).toBe(401);
    expect(gh.faults).toHaveLength(1);
    expect((await mint()).status).toBe(503);
  });
});

describe('fake GitHub: real @octokit/auth-app', () => {
  it('obtains a narrowed installation token', async () => {
    const auth = createAppAuth({ appId: APP_ID, privateKey: app.privateKey, request: request.defaults({ baseUrl: gh.url }) });
    const result = await auth({
      type: 'installation',
      installationId: INSTALLATION,
      repositoryNames: ['widgets'],
      permissions: { contents: 'read' },
    });
    expect(result.token).toMatch(/^ghs_/);
    expect(result).toMatchObject({ permissions: { contents: 'read' }, repositorySelection: 'selected', repositoryNames: ['widgets'] });
    expect(gh.requests.at(-1)?.body).toEqual({ repositories: ['widgets'], permissions: { contents: 'read' } });
    expect(gh.tokens.get(result.token)?.repositories).toEqual(['acme/widgets']);

    // Octokit's own App JWT also passes the installation lookup endpoints.
    const { token: jwt } = await auth({ type: 'app' });
    const { data } = await request('GET /repos/{owner}/{repo}/installation', {
      baseUrl: gh.url,
      owner: 'acme',
      repo: 'widgets',
      headers: { authorization: `bearer ${jwt}` },
    });
    expect(data.id).toBe(INSTALLATION);
  });
});
