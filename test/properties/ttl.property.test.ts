import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCreddyError } from '../../src/errors.js';
import { decideTtl, MIN_TTL_SECONDS, type TtlPolicy } from '../../src/policy/ttl.js';

/** Backend TTL settings as config allows them: 60 s ≤ default ≤ max, and a floor never above max. */
const policy = fc
  .record({
    maxTtl: fc.integer({ min: 60, max: 86_400 }),
    defaultFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    min: fc.option(fc.integer({ min: 60, max: 86_400 }), { nil: undefined }),
    max: fc.option(fc.integer({ min: 60, max: 100_000 }), { nil: undefined }),
  })
  .map(
    ({ maxTtl, defaultFraction, min, max }): TtlPolicy => ({
      common: { maxTtl, defaultTtl: Math.max(60, Math.floor(maxTtl * defaultFraction)) },
      ttlLimits: {
        ...(min !== undefined && min <= maxTtl ? { min: { seconds: min, reason: 'floor' } } : {}),
        ...(max !== undefined ? { max: { seconds: max, reason: 'ceiling' } } : {}),
      },
    }),
  );

const requested = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: -10, max: 200_000 }),
  fc.double(),
  fc.stringMatching(/^[0-9]{1,6}[smhd]?$/),
  fc.string({ maxLength: 12 }),
);

describe('TTL clamping (property)', () => {
  it('granted stays within every bound, and an in-bounds request is granted as asked', () => {
    fc.assert(
      fc.property(policy, requested, (backend, asked) => {
        let decision: ReturnType<typeof decideTtl>;
        try {
          decision = decideTtl(asked, backend);
        } catch (err) {
          expect(isCreddyError(err, 'ERR_TTL_INVALID')).toBe(true);
          return;
        }
        const { min, max } = backend.ttlLimits;
        const ceiling = Math.min(backend.common.maxTtl, max?.seconds ?? Number.POSITIVE_INFINITY);
        expect(Number.isInteger(decision.granted)).toBe(true);
        if (min) expect(decision.granted).toBeGreaterThanOrEqual(min.seconds);
        if (!min || min.seconds <= ceiling) expect(decision.granted).toBeLessThanOrEqual(ceiling);
        if (decision.requested !== null) {
          expect(decision.requested).toBeGreaterThanOrEqual(MIN_TTL_SECONDS);
          const inBounds = decision.requested <= ceiling && decision.requested >= (min?.seconds ?? 0);
          if (inBounds) expect(decision).toMatchObject({ granted: decision.requested, clamped_by: null });
          else expect(decision.clamped_by).not.toBeNull();
        }
      }),
      { numRuns: 5000 },
    );
  });
});
