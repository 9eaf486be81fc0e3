import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { THROTTLE_REPORT_MS, throttleKey } from '../../src/http/middleware/auth-failures.js';
import { createAuthThrottle } from '../../src/http/middleware/throttle.js';
import { openStore } from '../../src/store/open-store.js';
import { eventually, startBroker, type TestBroker, useFakeTimers } from '../helpers/harness.js';

/** Failed authentications are audited, but a flood from one address cannot grow the log at request rate. */
describe('createAuthThrottle', () => {
  const config = { maxFailures: 3, window: 60, block: 10, maxAuditedPerWindow: 1000 };

  it('audits maxFailures per window, starts a block with one row, then refuses and counts', () => {
    const throttle = createAuthThrottle(config);
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(throttle.failed('10.0.0.1', t0 + i)).toEqual({ kind: 'audit' });
    expect(throttle.failed('10.0.0.1', t0 + 3)).toEqual({ kind: 'block', retryAfter: 10 });
    expect(throttle.failed('10.0.0.1', t0 + 4_000)).toEqual({ kind: 'refuse', retryAfter: 7, global: false });
    expect(throttle.failed('10.0.0.1', t0 + 5_000)).toMatchObject({ kind: 'refuse' });
    // Another address is not affected.
    expect(throttle.failed('10.0.0.2', t0 + 5_000)).toEqual({ kind: 'audit' });
    // After the block: a fresh window.
    expect(throttle.failed('10.0.0.1', t0 + 10_003)).toEqual({ kind: 'audit' });
    expect(throttle.drain()).toEqual({
      refused: 2,
      addresses: 1,
      top: [{ address: '10.0.0.1', refused: 2 }],
      globalBudgetExhausted: false,
    });
    expect(throttle.drain()).toBeNull();
  });

  it('starts a new window once the old one has passed', () => {
    const throttle = createAuthThrottle({ ...config, maxFailures: 2, window: 1 });
    expect(throttle.failed('a', 0).kind).toBe('audit');
    expect(throttle.failed('a', 500).kind).toBe('audit');
    expect(throttle.failed('a', 1_000).kind).toBe('audit'); // window 2 starts here
    expect(throttle.failed('a', 1_500).kind).toBe('audit');
    expect(throttle.failed('a', 1_600).kind).toBe('block');
  });

  it('bounds the rows of a client with many addresses: the global budget, then counts only', () => {
    const throttle = createAuthThrottle({ ...config, maxAuditedPerWindow: 100 });
    const verdicts = { audit: 0, block: 0, refuse: 0 };
    // 3 rounds over 10,001 addresses (a /50 of IPv6 /64s, or a botnet), all in one window.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i <= 10_000; i++) verdicts[throttle.failed(`2001:db8:${i}::/64`, round * 100 + i / 1000).kind]++;
    }
    expect(verdicts.audit + verdicts.block).toBe(100);
    expect(verdicts.refuse).toBe(3 * 10_001 - 100);
    const summary = throttle.drain()!;
    expect(summary).toMatchObject({ refused: 3 * 10_001 - 100, globalBudgetExhausted: true });
    expect(summary.addresses).toBeLessThanOrEqual(10_001);
    expect(summary.top).toHaveLength(10);
    // The next window audits again.
    expect(throttle.failed('10.9.9.9', 60_000 + 3_100).kind).toBe('audit');
  });

  it('forgets the least recently failing address first, so an active attacker stays blocked', () => {
    const throttle = createAuthThrottle({ ...config, maxFailures: 1, maxAuditedPerWindow: 1_000_000 });
    throttle.failed('attacker', 0);
    expect(throttle.failed('attacker', 1).kind).toBe('block');
    for (let i = 0; i < 20_000; i++) {
      throttle.failed(`10.${i >> 8}.${i & 255}.1`, 2 + i / 10_000);
      // The attacker keeps trying, which keeps its entry (and its block) fresh.
      if (i % 1000 === 0) expect(throttle.failed('attacker', 2 + i / 10_000).kind).toBe('refuse');
    }
    expect(throttle.failed('attacker', 5).kind).toBe('refuse');
    // An address idle for 20,000 newer failures was forgotten: a fresh count.
    expect(throttle.failed('10.0.0.1', 5).kind).toBe('audit');
  });
});

describe('throttleKey', () => {
  it.each([
    [null, 'unknown'],
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:0:1::1', '2001:db8:0:1::/64'],
    ['2001:db8:0:1:ffff:ffff:ffff:fffe', '2001:db8:0:1::/64'],
    ['2001:DB8::', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['2001:0db8:0000:0001:0:0:0:1', '2001:db8:0:1::/64'],
  ])('%s → %s', (ip, key) => {
    expect(throttleKey(ip)).toBe(key);
  });
});

describe('auth throttle at the wire', () => {
  let broker: TestBroker;
  let valid: string;
  const BAD = `Bearer ckr_${'A'.repeat(43)}`;
  const call = (authorization: string) =>
    fetch(`${broker.url}/v1/credentials`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'demo' }),
    });
  const statuses = async (n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await call(BAD)).status);
    return out;
  };
  const rows = async (type: string) => broker.services.store.audit.query({ type, limit: 1000 });
  const summaries = async () => (await rows('auth.throttled')).filter((row) => row.reason === 'ERR_RATE_LIMITED');

  beforeAll(async () => {
    // The summary timer is fake (the test fires it); the block runs on the broker's movable clock.
    await useFakeTimers(['setInterval', 'clearInterval']);
    broker = await startBroker({ extra: 'auth_throttle: {max_failures: 3, window: 1m, block: 5m}' });
    valid = await broker.agent('throttled-neighbour', 'demo:read');
  });
  afterAll(async () => {
    vi.useRealTimers();
    await broker?.stop();
  });

  it('3 failures are 401s with a row each; then 429 with Retry-After, one auth.throttled row for the block', async () => {
    const seen: number[] = [];
    let last: { retryAfter: string | null; body: { error: { code: string; details: Record<string, unknown> } } } | undefined;
    for (let i = 0; i < 20; i++) {
      const response = await call(BAD);
      seen.push(response.status);
      last = { retryAfter: response.headers.get('retry-after'), body: (await response.json()) as never };
    }
    expect(seen).toEqual([401, 401, 401, ...Array<number>(17).fill(429)]);
    expect(last!.body.error.code).toBe('ERR_RATE_LIMITED');
    // The real reason stays visible to the caller.
    expect(last!.body.error.details).toMatchObject({ cause: 'ERR_UNAUTHENTICATED' });
    expect(Number(last!.retryAfter)).toBeGreaterThan(290);
    expect(Number(last!.retryAfter)).toBeLessThanOrEqual(300);
    expect(await rows('auth.failed')).toHaveLength(3);
    const throttled = await rows('auth.throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({
      outcome: 'denied',
      reason: 'ERR_UNAUTHENTICATED',
      clientIp: '127.0.0.1',
      details: { throttled_for_s: 300 },
    });
  });

  it('a valid token from the throttled address is still served', async () => {
    expect((await call(`Bearer ${valid}`)).status).toBe(201);
  });

  it('the refusals are summed up in one auth.throttled row every 10 s', async () => {
    expect(await summaries()).toEqual([]);
    await vi.advanceTimersByTimeAsync(THROTTLE_REPORT_MS);
    await eventually(async () => (await summaries()).length === 1);
    expect((await summaries())[0]).toMatchObject({
      clientIp: null,
      details: { refused: 16, addresses: 1, top: [{ address: '127.0.0.1', refused: 16 }], global_budget_exhausted: false },
    });
    // Nothing refused since: the next period writes no row.
    await vi.advanceTimersByTimeAsync(THROTTLE_REPORT_MS);
    await broker.services.audit.flush();
    expect(await summaries()).toHaveLength(1);
  });

  it('once the block has passed, the address starts a fresh window', async () => {
    broker.clock.advance(290);
    expect(await statuses(1)).toEqual([429]);
    broker.clock.advance(11);
    expect(await statuses(6)).toEqual([401, 401, 401, 429, 429, 429]);
    expect(await rows('auth.failed')).toHaveLength(6);
  });

  it('refusals left at shutdown are summed up in a last row', async () => {
    await broker.stopServer();
    const store = await openStore(broker.services.config.store);
    try {
      const [summary] = await store.audit.query({ type: 'auth.throttled', limit: 10 });
      expect(summary).toMatchObject({
        reason: 'ERR_RATE_LIMITED',
        clientIp: null,
        details: { refused: 3, addresses: 1, top: [{ address: '127.0.0.1', refused: 3 }], global_budget_exhausted: false },
      });
    } finally {
      await store.close();
    }
  });
});
