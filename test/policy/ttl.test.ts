import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/_utils/clock.js';
import { generic } from '../../src/backends/generic.js';
import type { Backend, BackendCommon } from '../../src/backends/types.js';
import { isCreddyError } from '../../src/errors.js';
import { decideTtl } from '../../src/policy/ttl.js';
import { silentLogger } from '../helpers/setup.js';

const common: BackendCommon = {
  name: 'svc',
  type: 'generic',
  description: undefined,
  defaultTtl: 900,
  maxTtl: 3600,
  allowedScopes: ['read'],
  defaultScopes: [],
  requireDpop: false,
};
const plain = generic.create({ audience: undefined }, common, { clock: systemClock, logger: silentLogger });
const bounded: Backend = {
  ...plain,
  ttlLimits: { min: { seconds: 900, reason: 'sts_minimum_session' }, max: { seconds: 1800, reason: 'role_chaining' } },
};

describe('decideTtl', () => {
  it.each([
    [undefined, { requested: null, granted: 900, clamped_by: null }],
    [600, { requested: 600, granted: 600, clamped_by: null }],
    ['10m', { requested: 600, granted: 600, clamped_by: null }],
    ['60', { requested: 60, granted: 60, clamped_by: null }],
    [60, { requested: 60, granted: 60, clamped_by: null }],
    ['1h', { requested: 3600, granted: 3600, clamped_by: null }],
    ['2h', { requested: 7200, granted: 3600, clamped_by: 'max_ttl' }],
    ['30d', { requested: 2_592_000, granted: 3600, clamped_by: 'max_ttl' }],
  ])('%j → %j', (requested, expected) => {
    expect(decideTtl(requested, plain)).toEqual(expected);
  });

  it.each([59, '59s', 0, -60, '-60', 60.5, '1.5h', 'soon', '1h30m', '', '1e3', true, [60], { s: 60 }, Number.NaN, Infinity])(
    'rejects %j with ERR_TTL_INVALID',
    (requested) => {
      try {
        decideTtl(requested, plain);
        expect.unreachable('should have thrown');
      } catch (err) {
        expect(isCreddyError(err, 'ERR_TTL_INVALID')).toBe(true);
      }
    },
  );

  it('applies backend bounds after max_ttl and reports which bound clamped', () => {
    expect(decideTtl('2m', bounded)).toEqual({ requested: 120, granted: 900, clamped_by: 'sts_minimum_session' });
    expect(decideTtl('45m', bounded)).toEqual({ requested: 2700, granted: 1800, clamped_by: 'role_chaining' });
    expect(decideTtl('20m', bounded)).toEqual({ requested: 1200, granted: 1200, clamped_by: null });
  });
});

describe('decideTtl with caller caps (federation rule max_ttl, ID token expiry)', () => {
  const rule = { seconds: 600, reason: 'rule_max_ttl' };
  it('clamps to the tightest cap and says which', () => {
    expect(decideTtl('1h', plain, [rule])).toEqual({ requested: 3600, granted: 600, clamped_by: 'rule_max_ttl' });
    expect(decideTtl('5m', plain, [rule])).toEqual({ requested: 300, granted: 300, clamped_by: null });
    expect(decideTtl('1h', plain, [rule, { seconds: 120, reason: 'id_token_exp' }])).toMatchObject({
      granted: 120,
      clamped_by: 'id_token_exp',
    });
  });

  it('refuses rather than stretch past a cap to meet a backend floor or the 60 s minimum', () => {
    for (const [backend, caps] of [
      [bounded, [rule]], // STS sessions last >= 900 s; the rule allows 600
      [plain, [{ seconds: 30, reason: 'id_token_exp' }]],
    ] as const) {
      try {
        decideTtl(undefined, backend, caps);
        expect.unreachable();
      } catch (err) {
        expect(isCreddyError(err, 'ERR_TTL_INVALID')).toBe(true);
      }
    }
    expect(decideTtl('1h', bounded, [{ seconds: 1000, reason: 'rule_max_ttl' }])).toMatchObject({ granted: 1000 });
  });
});
