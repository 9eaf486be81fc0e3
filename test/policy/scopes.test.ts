import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/_utils/clock.js';
import { generic } from '../../src/backends/generic.js';
import type { BackendCommon } from '../../src/backends/types.js';
import { isCreddyError } from '../../src/errors.js';
import { decideScopes } from '../../src/policy/grants.js';
import { covers, scopeProblem } from '../../src/policy/scopes.js';
import { silentLogger } from '../helpers/setup.js';

describe('scope grammar', () => {
  it.each([
    ['read', true],
    ['contents:read', true],
    ['issues:*', true],
    ['s3:Get*', true],
    ['*', true],
    ['a/b.c-d_e:f', true],
    ['', false],
    ['re*ad', false],
    ['**', false],
    ['a b', false],
    ['read\n', false],
    ['é', false],
    ['x'.repeat(129), false],
    // segments (between : and /) may not be empty, . or ..
    ['team:../admin', false],
    ['team:..', false],
    ['team:./x', false],
    ['team:', false],
    [':read', false],
    ['a::b', false],
    ['a//b', false],
    ['prod/stripe/', false],
    ['team:..*', false],
    ['team:.*', false],
    ['team:*', true],
    ['prod/stripe/*', true],
    ['team:.env', true],
    ['v1.2:read', true],
    ['team:...', true],
  ])('%j well-formed: %s', (scope, ok) => {
    expect(scopeProblem(scope) === undefined).toBe(ok);
  });
  it('rejects non-strings', () => {
    expect(scopeProblem(42)).toBeDefined();
  });
});

describe('coverage', () => {
  it.each([
    // pattern, scope, covered
    ['read', 'read', true],
    ['read', 'Read', false], // case-sensitive
    ['read', 'read*', false], // a wildcard request needs a wildcard pattern
    ['issues:*', 'issues:write', true],
    ['issues:*', 'issues:*', true],
    ['issues:*', 'issues:w*', true], // narrower wildcard
    ['issues:w*', 'issues:*', false], // broader wildcard is escalation
    ['issues:*', 'issue:read', false],
    ['s3:Get*', 's3:GetObject', true],
    ['s3:Get*', 's3:PutObject', false],
    ['*', 'anything:at:all', true],
    ['*', '*', true],
    ['s3:*', '*', false],
    ['contents:read', 'contents:read ', false], // no normalisation
  ])('%s covers %s: %s', (pattern, scope, expected) => {
    expect(covers(pattern, scope)).toBe(expected);
  });
});

describe('decideScopes (ceiling = allowed_scopes ∩ grants)', () => {
  const common: BackendCommon = {
    name: 'svc',
    type: 'generic',
    description: undefined,
    defaultTtl: 900,
    maxTtl: 3600,
    allowedScopes: ['read', 'write', 'files:*', 'admin:*'],
    defaultScopes: ['read', 'write'],
    requireDpop: false,
  };
  const backend = generic.create({ audience: undefined }, common, { clock: systemClock, logger: silentLogger });
  const code = (fn: () => unknown): string => {
    try {
      fn();
      return 'ok';
    } catch (err) {
      return isCreddyError(err) ? err.code : 'not-creddy';
    }
  };

  it.each([
    // requested, grants, result (granted scopes or error code)
    [['read'], ['read'], ['read']],
    [['read', 'read'], ['read'], ['read']], // duplicates fold
    [['files:a.txt'], ['files:*'], ['files:a.txt']],
    [['files:*'], ['files:*'], ['files:*']],
    [['files:*'], ['files:a*'], 'ERR_SCOPE_DENIED'], // grant narrower than request
    [['files:a*'], ['files:*'], ['files:a*']],
    [['write'], ['read'], 'ERR_SCOPE_DENIED'], // not granted
    [['delete'], ['*'], 'ERR_SCOPE_DENIED'], // granted * but not allowed by backend
    [['*'], ['*'], 'ERR_SCOPE_DENIED'], // backend allows no global wildcard
    [['read', 'write'], ['read'], 'ERR_SCOPE_DENIED'], // no silent partial grant
    [['re*d'], ['*'], 'ERR_SCOPE_INVALID'],
    [[42], ['*'], 'ERR_SCOPE_INVALID'],
    [[], ['read'], ['read']], // defaults within grants
    [undefined, ['read', 'write'], ['read', 'write']],
    [undefined, ['files:*'], 'ERR_SCOPE_INVALID'], // no default fits the grants
    [['read'], [], 'ERR_BACKEND_FORBIDDEN'],
    [Array.from({ length: 65 }, (_, i) => `files:${i}`), ['files:*'], 'ERR_SCOPE_INVALID'],
  ])('requested %j with grants %j → %j', (requested, grants, expected) => {
    if (typeof expected === 'string') {
      expect(code(() => decideScopes(requested as unknown[] | undefined, backend, grants))).toBe(expected);
    } else {
      const granted = decideScopes(requested as unknown[] | undefined, backend, grants);
      expect(granted).toEqual(expected);
      // The invariant: granted ⊆ requested ∩ ceiling.
      for (const scope of granted) {
        if (requested && requested.length > 0) expect(requested).toContain(scope);
      }
    }
  });
});
