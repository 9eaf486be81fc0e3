/**
 * Scope grammar and coverage (ARCHITECTURE §3 "Scopes"). A scope is `resource:action`-style
 * text; `*` may appear only as the last character and makes the scope a prefix pattern; `*` alone
 * means everything. Matching is case-sensitive with no normalisation, so what an operator writes
 * is exactly what is enforced.
 */

const SCOPE_RE = /^(?:\*|[A-Za-z0-9_.:/-]{1,127}\*?)$/;
/** Scope segments are separated by `:` (resource:action) and `/` (paths). */
const SEGMENT_SEPARATOR = /[:/]/;

/** Longest scope accepted, and the most scopes one request may name. */
export const SCOPE_MAX_LENGTH = 128;
export const SCOPES_MAX_COUNT = 64;

/** Returns what is wrong with a scope string, or undefined when it is well-formed. */
export function scopeProblem(scope: unknown): string | undefined {
  if (typeof scope !== 'string') return 'scope must be a string';
  if (scope.length === 0 || scope.length > SCOPE_MAX_LENGTH) return `scope must be 1-${SCOPE_MAX_LENGTH} characters`;
  if (!SCOPE_RE.test(scope)) {
    return scope.slice(0, -1).includes('*')
      ? `scope "${scope}": "*" is allowed only as the last character`
      : `scope "${scope}" may contain only letters, digits and _ . : / - (and a trailing *)`;
  }
  return segmentProblem(scope);
}

/**
 * Segments are the parts between `:` and `/`. An empty, `.` or `..` segment is refused: a
 * service that reads scopes as paths must never be walked out of a granted prefix
 * (`team:*` must not grant `team:../admin`). A trailing `*` may end an empty last segment
 * (`team:*`), which is a prefix pattern, not a name.
 */
function segmentProblem(scope: string): string | undefined {
  if (scope === '*') return undefined;
  const wildcard = scope.endsWith('*');
  const segments = (wildcard ? scope.slice(0, -1) : scope).split(SEGMENT_SEPARATOR);
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === '' && !(last && wildcard)) return `scope "${scope}" has an empty segment`;
    if (segment === '.' || segment === '..') return `scope "${scope}" has a "${segment}" segment`;
  }
  return undefined;
}

/**
 * True when `pattern` covers `scope`. A concrete pattern covers only itself. A wildcard pattern
 * covers every scope that starts with its prefix, including narrower wildcards: `s3:*` covers
 * `s3:Get*`, but `s3:Get*` never covers `s3:*` — a requested wildcard needs an equal or broader
 * pattern.
 */
export function covers(pattern: string, scope: string): boolean {
  if (!pattern.endsWith('*')) return pattern === scope;
  const prefix = pattern.slice(0, -1);
  const scopePrefix = scope.endsWith('*') ? scope.slice(0, -1) : scope;
  return scopePrefix.startsWith(prefix);
}

/** True when some pattern in `patterns` covers `scope`. */
export function coveredBy(patterns: readonly string[], scope: string): boolean {
  return patterns.some((pattern) => covers(pattern, scope));
}

/**
 * True when `scope` lies inside every one of the pattern sets (their intersection). Prefix sets
 * are nested or disjoint, so "covered by each" equals "covered by the intersection".
 */
export function withinAll(scope: string, ...patternSets: ReadonlyArray<readonly string[]>): boolean {
  return patternSets.every((patterns) => coveredBy(patterns, scope));
}
