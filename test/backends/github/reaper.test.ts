/**
 * GitHub installation tokens live an hour whatever creddy's TTL: the reaper revokes them when the
 * shorter creddy credential expires — also when that happens while the server is down.
 *
 * The broker's clock is moved instead of waited for, and the server's timers are fake: each
 * `nextPass()` fires the reaper's interval once, so the test decides exactly when passes run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nowSeconds } from '../../../src/_utils/clock.js';
import { REAPER_INTERVAL_MS } from '../../../src/credentials/reaper.js';
import { DOWNSTREAM_LEASE_S } from '../../../src/credentials/revoke.js';
import { eventually, issue, useFakeTimers } from '../../helpers/harness.js';
import { type GitHubFixture, startGitHubFixture } from './fixture.js';

let f: GitHubFixture | undefined;
beforeEach(async () => {
  // Only the intervals (reaper, key refresh, checkpoints): requests, retries and timeouts run in real time.
  await useFakeTimers(['setInterval', 'clearInterval']);
});
afterEach(async () => {
  vi.useRealTimers();
  await f?.stop();
  f = undefined;
});

/** Fires the reaper's interval once (the server's other intervals move along). */
const nextPass = () => vi.advanceTimersByTimeAsync(REAPER_INTERVAL_MS);

async function issueShort(fx: GitHubFixture): Promise<{ jti: string; ghToken: string }> {
  const t = await fx.broker.agent('short-lived', 'gh:contents:read');
  const res = await issue(fx.broker.url, t, { backend: 'gh', scopes: ['contents:read'], ttl: 60 });
  expect(res.status).toBe(201);
  return { jti: res.body.id, ghToken: res.body.credential.token };
}

describe('github downstream reaper', () => {
  it('revokes the installation token when the 60 s creddy credential expires, not before', async () => {
    f = await startGitHubFixture();
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    const revokedAt = async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt;
    fx.broker.clock.advance(30);
    // What each pass asks the store for does not include it yet…
    const now = nowSeconds(fx.broker.clock);
    const due = await fx.broker.services.store.credentials.claimDueForDownstreamRevocation(now, 100, now);
    expect(due.map((c) => c.jti)).not.toContain(jti);
    // …and passes at that time leave it alone.
    for (let i = 0; i < 3; i++) await nextPass();
    expect(await revokedAt()).toBeNull();
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(false);

    fx.broker.clock.advance(31);
    await nextPass();
    await eventually(async () => (await revokedAt()) != null);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
    const record = await fx.broker.services.store.credentials.get(jti);
    expect(record?.revocationHandle).toBeNull();
    // The audit log says when the downstream token died, and why.
    await eventually(async () => (await fx.broker.services.store.audit.query({ jti, type: 'downstream.revoked', limit: 5 })).length === 1);
    const [row] = await fx.broker.services.store.audit.query({ jti, type: 'downstream.revoked', limit: 5 });
    expect(row).toMatchObject({ actor: 'reaper', agent: 'short-lived', backend: 'gh', details: { reason: 'expired' } });
  });

  it('revokes after a restart what expired while the server was down', async () => {
    f = await startGitHubFixture();
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    await fx.broker.stopServer();
    fx.broker.clock.advance(120);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(false);

    // No interval fires from here on: only the pass at startup can do the work.
    await fx.broker.restart();
    await eventually(async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt != null);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
  });

  it('retries a revocation GitHub failed, on a pass after its lease ran out', async () => {
    f = await startGitHubFixture();
    const fx = f;
    const { jti, ghToken } = await issueShort(fx);
    // Every attempt of the first pass fails (3 attempts per revocation); a pass after the lease succeeds.
    fx.gh.revokeFaults.push({ status: 503 }, { status: 503 }, { status: 503 });
    fx.broker.clock.advance(61);
    await nextPass();
    await eventually(() => fx.broker.logLines.some((line) => line.includes('downstream revocation failed')));
    // The failed claim keeps its lease: no pass (of any replica) retries before it runs out.
    await nextPass();
    expect((await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt).toBeNull();
    fx.broker.clock.advance(DOWNSTREAM_LEASE_S);
    expect(fx.gh.revokeFaults).toEqual([]);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(false);

    await nextPass();
    await eventually(async () => (await fx.broker.services.store.credentials.get(jti))?.downstreamRevokedAt != null);
    expect(fx.gh.tokens.get(ghToken)?.revoked).toBe(true);
  });
});
