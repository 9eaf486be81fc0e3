/**
 * GitHub installation tokens live an hour whatever creddy's TTL: the reaper revokes them when the
 * shorter creddy credential expires — also when that happens while the server is down.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DOWNSTREAM_LEASE_S } from '../../../src/credentials/revoke.js';
import { issue } from '../../helpers/harness.js';
import { eventually } from '../broker.js';
import { type GitHubFixture, startGitHubFixture } from './fixture.js';

let f: GitHubFixture | undefined;
afterEach(async () => {
  await f?.stop();
  f = undefined;
});

async function issueShort(fx: GitHubFixture): Promise<{ jti: string; ghToken: string }> {
  const t = await fx.broker.agent('short-lived', 'gh:contents:read');
  const res = await issue(fx.broker.url, t, { backend: 'gh', scopes: ['contents:read'], ttl: 60 });
  expect(res.status).toBe(201);
  return { jti: res.body.id, ghToken: res.body.credential.token };
}

describe('github downstream reaper', () => {
  it('revokes the installation token when the 60 s creddy credential expires, not before', async () => {
    f = await startGitHubFixture({ reaperIntervalMs: 50 });
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    fx.broker.clock.advance(30);
    await new Promise((r) => setTimeout(r, 200)); // several reaper passes
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(false);

    fx.broker.clock.advance(31);
    await eventually(async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt != null);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
    const record = await fx.broker.services.store.credentials.get(jti);
    expect(record?.revocationHandle).toBeNull();
    // The audit log says when the downstream token died, and why.
    await eventually(async () => (await fx.broker.services.store.audit.query({ jti, type: 'downstream.revoked', limit: 5 })).length === 1);
    const [row] = await fx.broker.services.store.audit.query({ jti, type: 'downstream.revoked', limit: 5 });
    expect(row).toMatchObject({ actor: 'reaper', agent: 'short-lived', backend: 'gh', details: { reason: 'expired' } });
  });

  it('revokes after a restart what expired while the server was down', async () => {
    // A long period: only the pass at startup can do the work in this test.
    f = await startGitHubFixture({ reaperIntervalMs: 3_600_000 });
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    await fx.broker.server.stop();
    fx.broker.clock.advance(120);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(false);

    await fx.broker.restart();
    await eventually(async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt != null);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
  });

  it('retries a revocation GitHub failed, on a pass after its lease ran out', async () => {
    f = await startGitHubFixture({ reaperIntervalMs: 50 });
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    // Every attempt of the first pass fails (3 attempts per revocation); a later pass succeeds.
    fx.gh.revokeFaults.push({ status: 503 }, { status: 503 }, { status: 503 });
    fx.broker.clock.advance(61);
    await eventually(async () => fx.broker.logLines.some((line) => line.includes('downstream revocation failed')));
    // The failed claim keeps its lease: no replica retries before it runs out.
    await new Promise((r) => setTimeout(r, 200));
    expect((await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt).toBeNull();
    fx.broker.clock.advance(DOWNSTREAM_LEASE_S);
    await eventually(async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt != null, 10_000);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
    expect(fx.gh.revokeFaults).toEqual([]);
    expect(fx.broker.logLines.some((line) => line.includes('downstream revocation failed'))).toBe(true);
  });
});
