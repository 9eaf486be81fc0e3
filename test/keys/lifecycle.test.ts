import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agents/create.js';
import { loadAuditKeys } from '../../src/audit/key.js';
import { verifyStore } from '../../src/audit/verify-store.js';
import { agentCaller } from '../../src/credentials/context.js';
import { issueCredential } from '../../src/credentials/issue.js';
import { revokeKey } from '../../src/keys/revoke-key.js';
import { rotateKeys } from '../../src/keys/rotate.js';
import { createRotationSchedule } from '../../src/keys/schedule.js';
import { PUBLISH_LAG_S, planFor, RETIRE_GRACE_S } from '../../src/keys/timing.js';
import { keyEvent } from '../../src/keys/transition.js';
import type { KeyRecord } from '../../src/model/key.js';
import type { Services } from '../../src/services.js';
import { openServices, type TestServices } from '../helpers/harness.js';

/**
 * The lifecycle rules with a clock the test moves (injected, as the server's is): when keys
 * rotate, when retired keys leave the JWKS, what revoke does to each state.
 */
const DAY = 86_400;
const T0 = Date.UTC(2026, 0, 1) / 1000;

describe('key lifecycle with a controlled clock', () => {
  let services: Services;
  let now = T0;
  let opened: TestServices;
  let env: NodeJS.ProcessEnv;
  const clock = { now: () => now * 1000 };
  const byState = async (state: KeyRecord['state']) => (await services.store.keys.list()).filter((k) => k.state === state);
  const one = async (state: 'current' | 'next') => {
    const keys = await byState(state);
    expect(keys).toHaveLength(1);
    return keys[0]!;
  };

  beforeEach(async () => {
    now = T0;
    opened = await openServices({ clock, extra: 'keys: {rotation_period: 30d, publish_ahead: 1h, jwks_max_age: 5m, clock_skew: 60s}' });
    ({ services, env } = opened);
  });
  afterEach(async () => opened.close());

  const issueToken = async (ttl = 900): Promise<string> => {
    const agent =
      (await services.store.agents.byName('a')) ??
      (await createAgent(services, { name: 'a', grants: [{ backend: 'demo', scope: 'read' }], ttlSeconds: null, actor: 'cli' })).agent;
    const res = await issueCredential(
      services,
      { caller: agentCaller(agent), clientIp: null, requestId: 'r' },
      { backend: 'demo', scopes: undefined, ttl, metadata: null, params: {} },
    );
    return res.token;
  };

  it('the schedule rotates once current is older than rotation_period and next is ready', async () => {
    const schedule = createRotationSchedule(services);
    const first = await one('current');
    now = T0 + 30 * DAY - 1;
    await services.keyring.refresh();
    expect(await schedule.tick()).toBeUndefined();
    now = T0 + 30 * DAY;
    const result = await schedule.tick();
    expect(result).toMatchObject({ rotated: true, retired: first.kid });
    expect(services.keyring.signer().kid).toBe(result!.current);
    expect((await one('current')).activatedAt).toBe(now);
    // The new next was published just now: the schedule will not promote it before publish_ahead + lag.
    const next = await one('next');
    expect(planFor(await one('current'), await services.store.keys.list(), 0, services.config.keys).plannedRetirement).toBe(now + 30 * DAY);
    expect(planFor(next, await services.store.keys.list(), 0, services.config.keys).plannedActivation).toBe(now + 30 * DAY);
    const audit = await services.store.audit.query({ type: 'key.activated', limit: 5 });
    expect(audit[0]).toMatchObject({ actor: 'schedule', kid: result!.current });
  });

  it('an unforced rotation refuses a next published less than publish_ahead + lag ago', async () => {
    await rotateKeys(services, { actor: 'cli', force: true });
    now += 3600 + PUBLISH_LAG_S - 1;
    await expect(rotateKeys(services, { actor: 'cli' })).rejects.toMatchObject({ code: 'ERR_NOT_YET', details: { seconds_left: 1 } });
    now += 1;
    await expect(rotateKeys(services, { actor: 'cli' })).resolves.toMatchObject({ rotated: true });
  });

  it('a rotation that lost to another one counts as done', async () => {
    const seen = (await one('current')).kid;
    const winner = await rotateKeys(services, { actor: 'cli', force: true });
    const late = await rotateKeys(services, { actor: 'schedule', force: true, expectCurrent: seen });
    expect(late).toEqual({ rotated: false, current: winner.current, next: winner.next, retired: null });
    expect(await byState('retired')).toHaveLength(1);
  });

  it('ten concurrent rotations that all saw the same current rotate exactly once', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => rotateKeys(services, { actor: 'cli', force: true })));
    expect(results.filter((r) => r.rotated)).toHaveLength(1);
    expect(new Set(results.map((r) => r.current)).size).toBe(1);
    await one('current');
    await one('next');
    expect(await byState('retired')).toHaveLength(1);
  });

  it('a retired key stays in the JWKS until its last exp + clock_skew, then leaves', async () => {
    await issueToken(900);
    const old = await one('current');
    await rotateKeys(services, { actor: 'cli', force: true });
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).toContain(old.kid);
    now = T0 + 900 + 60; // exp + skew: still published
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).toContain(old.kid);
    now += 1;
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).not.toContain(old.kid);
    expect(services.keyring.jwks().kids).toHaveLength(2);
  });

  it('a retired key that signed nothing still stays for the grace period + skew', async () => {
    const old = await one('current');
    await rotateKeys(services, { actor: 'cli', force: true });
    now = T0 + RETIRE_GRACE_S + 60;
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).toContain(old.kid);
    now += 1;
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).not.toContain(old.kid);
  });

  it('revoke: retired and next leave the JWKS at once; current needs force and next takes over', async () => {
    await issueToken();
    const firstCurrent = await one('current');
    await rotateKeys(services, { actor: 'cli', force: true });
    // Retired key with live tokens: gone at once.
    await expect(revokeKey(services, firstCurrent.kid, { actor: 'cli' })).resolves.toMatchObject({ was: 'retired', alreadyRevoked: false });
    await services.keyring.refresh();
    expect(services.keyring.jwks().kids).not.toContain(firstCurrent.kid);
    await expect(revokeKey(services, firstCurrent.kid, { actor: 'cli' })).resolves.toMatchObject({ alreadyRevoked: true });

    // Next: replaced by a fresh next.
    const next = await one('next');
    const afterNext = await revokeKey(services, next.kid, { actor: 'cli' });
    expect(afterNext.next).not.toBe(next.kid);
    expect((await one('next')).kid).toBe(afterNext.next);

    // Current: refused without force; with force the next signs at once.
    const current = await one('current');
    await expect(revokeKey(services, current.kid, { actor: 'cli' })).rejects.toMatchObject({ code: 'ERR_USAGE' });
    const successor = (await one('next')).kid;
    const forced = await revokeKey(services, current.kid, { actor: 'cli', force: true });
    expect(forced).toMatchObject({ was: 'current', current: successor });
    await services.keyring.refresh();
    expect(services.keyring.signer().kid).toBe(successor);
    expect(services.keyring.jwks().kids).not.toContain(current.kid);
    expect(await byState('revoked')).toHaveLength(3);
    await one('next');

    await expect(revokeKey(services, 'nope', { actor: 'cli' })).rejects.toMatchObject({ code: 'ERR_KEY_UNKNOWN' });
    const revokedRows = await services.store.audit.query({ type: 'key.revoked', limit: 10 });
    expect(revokedRows.map((r) => r.kid).sort()).toEqual([firstCurrent.kid, next.kid, current.kid].sort());
  });

  it('a store left without a next gets one at start', async () => {
    const next = await one('next');
    // Damage done behind creddy's back: no audit row.
    await services.store.keys.apply([{ op: 'update', kid: next.kid, expect: 'next', set: { state: 'revoked', revokedAt: now } }], {
      events: [],
      seal: services.auditSeal,
    });
    await services.keyring.init();
    expect((await one('next')).kid).not.toBe(next.kid);
  });

  it('a transition and its audit rows commit together: a failed guard appends nothing', async () => {
    const current = await one('current');
    const next = await one('next');
    const rows = async () => (await services.store.audit.query({ limit: 1000 })).length;
    const before = await rows();
    const event = keyEvent(services, 'key.revoked', 'cli', next.kid, { was: 'next' });
    // The second op's guard fails (current is not `next`): the first op and the row roll back.
    const ops = [
      { op: 'update', kid: next.kid, expect: 'next', set: { state: 'revoked', revokedAt: now } },
      { op: 'update', kid: current.kid, expect: 'next', set: { state: 'current' } },
    ] as const;
    expect(await services.store.keys.apply(ops, { events: [event], seal: services.auditSeal })).toBe(false);
    expect(await rows()).toBe(before);
    expect((await one('next')).kid).toBe(next.kid);
    // The same event with a valid transition lands in the chain, which still verifies.
    expect(await services.store.keys.apply([ops[0]], { events: [event], seal: services.auditSeal })).toBe(true);
    expect(await rows()).toBe(before + 1);
    const [row] = await services.store.audit.query({ type: 'key.revoked', limit: 1 });
    expect(row).toMatchObject({ kid: next.kid, actor: 'cli' });
    expect((await verifyStore(services.store, loadAuditKeys({ env }))).problem).toBeNull();
  });

  it('a rejected audit row fails the transition at once with ERR_AUDIT_UNAVAILABLE, not as a lost race', async () => {
    const before = await services.store.keys.list();
    const path = (services.config.store as { path: string }).path;
    const db = new Database(path);
    try {
      db.exec(
        "CREATE TRIGGER test_reject_retired BEFORE INSERT ON audit_events WHEN NEW.type = 'key.retired' BEGIN SELECT RAISE(ABORT, 'rejected by test'); END",
      );
      const started = Date.now();
      await expect(rotateKeys(services, { actor: 'cli', force: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(1_000); // no retries with backoff
      expect(await services.store.keys.list()).toEqual(before);
    } finally {
      db.exec('DROP TRIGGER IF EXISTS test_reject_retired');
      db.close();
    }
    expect((await rotateKeys(services, { actor: 'cli', force: true })).rotated).toBe(true);
  });
});
