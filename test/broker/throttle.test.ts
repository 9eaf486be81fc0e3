import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { throttleKey } from '../../src/broker/auth-failures.js';
import { createAuthThrottle } from '../../src/broker/throttle.js';
import { openStore } from '../../src/store/open.js';
import { demoYaml, startBroker, type TestBroker } from '../helpers/harness.js';

/** Failed authentications are audited, but a flood from one address cannot grow the log at request rate. */
describe('createAuthThrottle', () => {
  it('allows maxFailures per window, then refuses for the block and reports the refusals on the next row', () => {
    const throttle = createAuthThrottle({ maxFailures: 3, window: 60, block: 10 });
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(throttle.failed('10.0.0.1', t0 + i)).toEqual({ throttled: false, refusedBefore: 0 });
    expect(throttle.failed('10.0.0.1', t0 + 3)).toEqual({ throttled: true, started: true, retryAfter: 10, refusedBefore: 0 });
    expect(throttle.failed('10.0.0.1', t0 + 4_000)).toEqual({ throttled: true, started: false, retryAfter: 7, refusedBefore: 0 });
    expect(throttle.failed('10.0.0.1', t0 + 5_000)).toMatchObject({ throttled: true, started: false });
    // Another address is not affected.
    expect(throttle.failed('10.0.0.2', t0 + 5_000)).toEqual({ throttled: false, refusedBefore: 0 });
    // After the block: a fresh window, and the two refusals are handed to the next row.
    expect(throttle.failed('10.0.0.1', t0 + 10_003)).toEqual({ throttled: false, refusedBefore: 2 });
    expect(throttle.failed('10.0.0.1', t0 + 10_004)).toEqual({ throttled: false, refusedBefore: 0 });
  });

  it('starts a new window once the old one has passed', () => {
    const throttle = createAuthThrottle({ maxFailures: 2, window: 1, block: 10 });
    expect(throttle.failed('a', 0).throttled).toBe(false);
    expect(throttle.failed('a', 500).throttled).toBe(false);
    expect(throttle.failed('a', 1_000).throttled).toBe(false); // window 2 starts here
    expect(throttle.failed('a', 1_500).throttled).toBe(false);
    expect(throttle.failed('a', 1_600).throttled).toBe(true);
  });

  it('drain hands over unreported refusals once', () => {
    const throttle = createAuthThrottle({ maxFailures: 1, window: 60, block: 60 });
    throttle.failed('a', 0);
    throttle.failed('a', 1);
    throttle.failed('a', 2);
    throttle.failed('a', 3);
    expect(throttle.drain()).toEqual([{ address: 'a', refused: 2 }]);
    expect(throttle.drain()).toEqual([]);
  });

  it('remembers a bounded number of addresses', () => {
    const throttle = createAuthThrottle({ maxFailures: 1, window: 60, block: 60 });
    for (let i = 0; i < 20_000; i++) throttle.failed(`10.${i >> 8}.${i & 255}.1`, i);
    // The earliest addresses were forgotten: their next failure starts a fresh count.
    expect(throttle.failed('10.0.0.1', 20_000)).toEqual({ throttled: false, refusedBefore: 0 });
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
  const rows = async (type: string) => broker.services.store.audit.query({ type, limit: 1000 });

  beforeAll(async () => {
    broker = await startBroker({ yaml: (dataDir) => demoYaml({ dataDir, extra: 'auth_throttle: {max_failures: 3, window: 1m, block: 2s}' }) });
    valid = await broker.agent('throttled-neighbour', 'demo:read');
  });
  afterAll(() => {
    if (broker) rmSync(broker.dir, { recursive: true, force: true });
  });

  it('3 failures are 401s with a row each; then 429 with Retry-After, one auth.throttled row for the block', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 20; i++) {
      const response = await call(BAD);
      statuses.push(response.status);
      const body = (await response.json()) as { error: { code: string } };
      if (response.status === 429) {
        expect(body.error.code).toBe('ERR_RATE_LIMITED');
        retryAfter = response.headers.get('retry-after');
      }
    }
    expect(statuses).toEqual([401, 401, 401, ...Array<number>(17).fill(429)]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(2);
    expect(await rows('auth.failed')).toHaveLength(3);
    const throttled = await rows('auth.throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ outcome: 'denied', reason: 'ERR_UNAUTHENTICATED', clientIp: '127.0.0.1', details: { throttled_for_s: 2 } });
  });

  it('a valid token from the throttled address is still served', async () => {
    const response = await call(`Bearer ${valid}`);
    expect(response.status).toBe(201);
  });

  it('after the block, the next failure is a 401 whose row counts the refusals; shutdown reports the rest', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await call(BAD)).status).toBe(401);
    const failed = await rows('auth.failed');
    expect(failed[0]).toMatchObject({ details: { refused_while_throttled: 16 } });

    // Throttle again, then stop: the refusals no row reported yet are written at shutdown.
    for (let i = 0; i < 6; i++) await call(BAD);
    await broker.server.stop();
    const store = openStore(broker.services.config.store);
    try {
      const throttled = await store.audit.query({ type: 'auth.throttled', limit: 10 });
      expect(throttled[0]).toMatchObject({ clientIp: '127.0.0.1', details: { refused_while_throttled: 3, at_shutdown: true } });
    } finally {
      await store.close();
    }
  });
});
