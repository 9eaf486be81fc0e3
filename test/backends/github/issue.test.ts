/**
 * github backend through the real broker against the loopback fake GitHub: what GitHub receives
 * is exactly what creddy granted, and escalation attempts never reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../helpers/harness.js';
import { type GitHubFixture, INSTALLATION, startGitHubFixture } from './fixture.js';

let f: GitHubFixture;
let token: string;
beforeAll(async () => {
  f = await startGitHubFixture({ extra: ['repositories: ["acme/widgets", "acme/gadgets"]'] });
  token = await f.broker.agent('ci-bot', 'gh:contents:*,gh:issues:read,gh:metadata:read,gh:administration:read');
});
afterAll(() => f.stop());

const post = (body: Record<string, unknown>) => issue(f.broker.url, token, { backend: 'gh', ...body });

describe('github backend: narrowing', () => {
  it('sends GitHub exactly the granted permissions and the ceiling repositories, and returns its token', async () => {
    const before = f.gh.requests.length;
    const res = await post({ scopes: ['contents:read', 'issues:read'], ttl: '10m' });
    expect(res.status).toBe(201);
    const sent = f.gh.requests.slice(before);
    expect(sent).toEqual([
      {
        method: 'POST',
        path: `/app/installations/${INSTALLATION}/access_tokens`,
        installationId: INSTALLATION,
        body: { permissions: { contents: 'read', issues: 'read' }, repositories: ['widgets', 'gadgets'] },
      },
    ]);
    const c = res.body.credential;
    expect(c).toMatchObject({
      type: 'github_installation_token',
      revocation: 'immediate',
      permissions: { contents: 'read', issues: 'read' },
      repositories: ['acme/widgets', 'acme/gadgets'],
    });
    const minted = f.gh.tokens.get(c.token);
    expect(minted).toMatchObject({
      permissions: { contents: 'read', issues: 'read' },
      repositories: ['acme/widgets', 'acme/gadgets'],
      revoked: false,
    });
    expect(c.expires_at).toBe(minted?.expiresAt); // GitHub's own expiry, not creddy's
    expect(res.body.ttl).toEqual({ requested: 600, granted: 600, clamped_by: null });
  });

  it('narrows to the repositories the caller names, inside the ceiling', async () => {
    const before = f.gh.requests.length;
    const res = await post({ scopes: ['contents:write'], repositories: ['acme/widgets'] });
    expect(res.status).toBe(201);
    expect(f.gh.requests.slice(before).map((r) => r.body)).toEqual([{ permissions: { contents: 'write' }, repositories: ['widgets'] }]);
    expect(res.body.credential.repositories).toEqual(['acme/widgets']);
  });

  it('maps PERMISSION:* to the highest level the installation has, and keeps one level per permission', async () => {
    const before = f.gh.requests.length;
    const res = await post({ scopes: ['contents:read', 'contents:*'] });
    expect(res.status).toBe(201);
    expect(f.gh.requests.slice(before).map((r) => (r.body as { permissions: unknown }).permissions)).toEqual([{ contents: 'write' }]);
  });

  it('uses the default scopes when none are requested', async () => {
    const before = f.gh.requests.length;
    const res = await post({});
    expect(res.status).toBe(201);
    expect(res.body.scopes).toEqual(['contents:read']);
    expect((f.gh.requests.slice(before)[0]?.body as { permissions: unknown }).permissions).toEqual({ contents: 'read' });
  });

  const escalations: Array<[string, Record<string, unknown>, number, string]> = [
    ['a permission outside allowed_scopes', { scopes: ['actions:write'] }, 403, 'ERR_SCOPE_DENIED'],
    ['a level above the agent grant', { scopes: ['administration:write'] }, 403, 'ERR_SCOPE_DENIED'],
    ['a wildcard broader than the grant', { scopes: ['issues:*'] }, 403, 'ERR_SCOPE_DENIED'],
    ['a malformed github scope', { scopes: ['contents'] }, 400, 'ERR_SCOPE_INVALID'],
    ['a bare wildcard', { scopes: ['*'] }, 400, 'ERR_SCOPE_INVALID'],
    ['a repository outside the ceiling', { scopes: ['contents:read'], repositories: ['acme/secrets'] }, 403, 'ERR_SCOPE_DENIED'],
    ['a same-named repository of another owner', { scopes: ['contents:read'], repositories: ['other/widgets'] }, 403, 'ERR_SCOPE_DENIED'],
    ['a malformed repository name', { scopes: ['contents:read'], repositories: ['widgets'] }, 400, 'ERR_BAD_REQUEST'],
    ['repositories that are not a list', { scopes: ['contents:read'], repositories: 'acme/widgets' }, 400, 'ERR_BAD_REQUEST'],
  ];
  it.each(escalations)('refuses %s without asking GitHub, audited as denied', async (_name, body, status, code) => {
    const before = f.gh.requests.length;
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(f.gh.requests.length).toBe(before);
    // Refused by the backend (repositories) or by policy (scopes): either way `audit list --outcome denied` finds it.
    const [row] = await f.broker.services.store.audit.query({ agent: 'ci-bot', limit: 1 });
    expect(row).toMatchObject({ type: 'credential.denied', outcome: 'denied', reason: code });
  });

  it('refuses a level the installation lacks before GitHub is asked', async () => {
    const token2 = await f.broker.agent('admin-bot', 'gh:administration:*');
    const before = f.gh.requests.length;
    const ok = await issue(f.broker.url, token2, { backend: 'gh', scopes: ['administration:*'] });
    expect(ok.status).toBe(201);
    expect((f.gh.requests.at(-1)?.body as { permissions: unknown }).permissions).toEqual({ administration: 'admin' });
    expect(f.gh.requests.length).toBe(before + 1);
  });
});

describe('github backend: concurrency', () => {
  it('gives concurrent identical requests their own tokens, so revoking one never kills another', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => post({ scopes: ['contents:read'] })));
    const tokens = results.map((r) => r.body.credential.token as string);
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(tokens).size).toBe(5);
  });
});

describe('github backend: revocation on request', () => {
  it('DELETE /v1/credentials/:id revokes the installation token at GitHub', async () => {
    const res = await post({ scopes: ['contents:read'] });
    const ghToken = res.body.credential.token as string;
    const del = await fetch(`${f.broker.url}/v1/credentials/${res.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ downstream: 'revoked' });
    expect(f.gh.tokens.get(ghToken)?.revoked).toBe(true);
    const record = await f.broker.services.store.credentials.get(res.body.id);
    expect(record?.downstreamRevokedAt).not.toBeNull();
    expect(record?.revocationHandle).toBeNull();
  });

  it('keeps the token out of audit rows and logs; only its fingerprint is recorded', async () => {
    const res = await post({ scopes: ['contents:read'] });
    const ghToken = res.body.credential.token as string;
    const rows = await f.broker.services.store.audit.query({ jti: res.body.id, limit: 10 });
    expect(rows.map((r) => r.type)).toContain('credential.issued');
    const text = JSON.stringify(rows) + f.broker.logLines.join('\n');
    expect(text).not.toContain(ghToken);
    expect(JSON.stringify(rows)).toMatch(/sha256:[0-9a-f]{16}/);
  });
});

describe('github backend: installation lookup by owner', () => {
  it('finds the installation from `owner` once and mints for it', async () => {
    const g = await startGitHubFixture({ installationKey: 'owner: acme' });
    try {
      const t = await g.broker.agent('a', 'gh:contents:read');
      for (let i = 0; i < 3; i++) {
        const res = await issue(g.broker.url, t, { backend: 'gh', scopes: ['contents:read'] });
        expect(res.status).toBe(201);
      }
      expect(g.gh.requests.map((r) => r.installationId)).toEqual([INSTALLATION, INSTALLATION, INSTALLATION]);
    } finally {
      await g.stop();
    }
  });
});
