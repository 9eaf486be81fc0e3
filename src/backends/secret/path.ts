/**
 * Secret paths and the scopes that grant them. A path is `/`-separated segments of letters,
 * digits, `_`, `.` and `-` (`prod/stripe/api-key`); no empty, `.` or `..` segment, so a granted
 * prefix can never be walked out of. A scope is a path, or a prefix ending in `*`
 * (`prod/stripe/*`, `prod/str*`), or `*` for every path.
 */
import type { SecretSelector } from '../../store/port.js';

/** Longest path: a scope is at most 128 characters, and a path is a scope. */
export const SECRET_PATH_MAX = 128;
const SEGMENT_RE = /^[A-Za-z0-9_.-]+$/;

/** What is wrong with `path` as a secret path, or undefined. */
export function secretPathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > SECRET_PATH_MAX) return `secret path must be 1-${SECRET_PATH_MAX} characters`;
  for (const segment of path.split('/')) {
    if (segment === '') return `secret path "${path}" has an empty segment (no leading, trailing or double "/")`;
    if (segment === '.' || segment === '..') return `secret path "${path}" has a "${segment}" segment`;
    if (!SEGMENT_RE.test(segment)) return `secret path "${path}" may contain only letters, digits and _ . - between "/"`;
  }
  return undefined;
}

/** What is wrong with `scope` as a grant of secret paths (a path, or a prefix ending in `*`), or undefined. */
export function secretScopeProblem(scope: string): string | undefined {
  if (!scope.endsWith('*')) return secretPathProblem(scope);
  const prefix = scope.slice(0, -1);
  if (prefix === '') return undefined;
  // `prod/stripe/` and `prod/str` are both prefixes; what they cover must still be valid paths.
  return secretPathProblem(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix) === undefined
    ? undefined
    : `scope "${scope}" is not a secret path or a path prefix followed by "*"`;
}

/** The store selector for granted scopes: exact paths, and the prefixes of wildcard scopes. */
export function selectorOf(scopes: readonly string[]): SecretSelector {
  return {
    paths: scopes.filter((s) => !s.endsWith('*')),
    prefixes: scopes.filter((s) => s.endsWith('*')).map((s) => s.slice(0, -1)),
  };
}
