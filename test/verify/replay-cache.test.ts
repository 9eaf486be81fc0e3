import { describe, expect, it } from 'vitest';
import { createReplayCache } from '../../src/verify/index.js';

/**
 * The in-memory DPoP replay cache when ids do not expire in the order they arrive: two verifiers
 * with different `dpop.maxAge` sharing one cache, client assertions with their own `exp`, a clock
 * stepped back. "Full" must mean full of live ids, and a replay must still be refused.
 */
describe('createReplayCache with mixed lifetimes', () => {
  const refusedOf = (use: () => unknown) => {
    try {
      use();
      return 0;
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_DPOP_INVALID' });
      return 1;
    }
  };

  it('a long-lived id does not keep the short-lived ones behind it (5,000 proofs, at most ~800 live: none refused)', () => {
    let t = 1_700_000_000_000;
    const cache = createReplayCache({ maxEntries: 1000, now: () => t });
    expect(cache.use('long', t + 3_620_000)).toBe(true); // a verifier with dpop.maxAge 3600
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      t += 100; // the other verifier, dpop.maxAge 60: 10 proofs a second for 500 s
      refused += refusedOf(() => expect(cache.use(`p${i}`, t + 80_000)).toBe(true));
    }
    expect(refused).toBe(0);
    expect(cache.use('long', t + 3_620_000)).toBe(false); // still remembered
    expect(cache.use('p4999', t + 80_000)).toBe(false);
  });

  it('after the clock steps back, ids filed since are still forgotten as they expire', () => {
    let t = 1_700_000_000_000;
    const cache = createReplayCache({ maxEntries: 100, now: () => t });
    for (let i = 0; i < 50; i++) expect(cache.use(`before-${i}`, t + 60_000)).toBe(true);
    t -= 3_600_000; // NTP steps the clock back an hour: those 50 stay live for 61 minutes
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      t += 2_000; // one proof every 2 s with a 60 s window: about 30 live at once, beside the 50
      refused += refusedOf(() => cache.use(`after-${i}`, t + 60_000));
    }
    expect(refused).toBe(0);
    expect(cache.use('before-0', t + 60_000)).toBe(false); // their hour is not over yet
  });

  it('refuses a replay until the id expires, then takes it again; refuses new ids only when full of live ones', () => {
    let t = 1_000_000;
    const cache = createReplayCache({ maxEntries: 3, now: () => t });
    expect(cache.use('a', t + 10_000)).toBe(true);
    expect(cache.use('b', t + 1_000)).toBe(true);
    expect(cache.use('c', t + 5_000)).toBe(true);
    expect(() => cache.use('d', t + 1_000)).toThrow(expect.objectContaining({ code: 'ERR_DPOP_INVALID' }));
    t += 999;
    expect(cache.use('b', t + 1_000)).toBe(false);
    t += 1; // b expires (filed behind a and c, which live longer) and is forgotten within 0.1 s
    t += 100;
    expect(cache.use('d', t + 1_000)).toBe(true);
    expect(cache.use('c', t + 1_000)).toBe(false);
    t = 1_000_000 + 10_000;
    expect(cache.use('a', t + 1_000)).toBe(true); // its own expiry has come: a new proof may use it
    expect(cache.use('a', t + 1_000)).toBe(false);
  });

  it('checks its options', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createReplayCache({ maxEntries }), String(maxEntries)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });
});
