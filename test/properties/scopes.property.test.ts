import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCreddyError } from '../../src/errors.js';
import { decideScopes, type ScopePolicy } from '../../src/policy/grants.js';
import { covers, scopeProblem } from '../../src/policy/scopes.js';

/** Scope-like strings from a small alphabet, so covering pairs, separators and dot segments are common. */
const scopeText = fc.stringMatching(/^[ab.:/*-]{1,10}$/);
const wellFormed = scopeText.filter((s) => scopeProblem(s) === undefined);
const scopeList = fc.array(wellFormed, { minLength: 1, maxLength: 5 });

describe('scope algebra (property)', () => {
  it('coverage is a partial order on well-formed scopes: reflexive, antisymmetric, transitive', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, wellFormed, (a, b, c) => {
        expect(covers(a, a)).toBe(true);
        if (covers(a, b) && covers(b, a)) expect(a).toBe(b);
        if (covers(a, b) && covers(b, c)) expect(covers(a, c)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a pattern never covers a broader wildcard', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (pattern, scope) => {
        if (covers(pattern, scope) && scope.endsWith('*')) expect(pattern.endsWith('*')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a grant never exceeds the ceiling: granted ⊆ requested, each covered by allowed_scopes and the grants', () => {
    fc.assert(
      fc.property(scopeList, scopeList, fc.array(scopeText, { maxLength: 6 }), (allowed, grants, requested) => {
        const policy: ScopePolicy = { common: { name: 'b', allowedScopes: allowed, defaultScopes: [] }, checkScope: () => undefined };
        let granted: string[];
        try {
          granted = decideScopes(requested, policy, grants);
        } catch (err) {
          expect(isCreddyError(err)).toBe(true);
          expect(['ERR_SCOPE_INVALID', 'ERR_SCOPE_DENIED', 'ERR_BACKEND_FORBIDDEN']).toContain((err as { code: string }).code);
          return;
        }
        for (const scope of granted) {
          expect(requested).toContain(scope);
          expect(allowed.some((p) => covers(p, scope))).toBe(true);
          expect(grants.some((p) => covers(p, scope))).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('no well-formed scope has an empty, . or .. segment (besides the one a trailing * ends)', () => {
    fc.assert(
      fc.property(wellFormed, (scope) => {
        if (scope === '*') return;
        const body = scope.endsWith('*') ? scope.slice(0, -1) : scope;
        const segments = body.split(/[:/]/);
        for (const [i, segment] of segments.entries()) {
          expect(segment === '.' || segment === '..').toBe(false);
          if (segment === '') expect(i === segments.length - 1 && scope.endsWith('*')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
