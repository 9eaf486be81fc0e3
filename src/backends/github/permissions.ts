import { CreddyError } from '../../errors.js';

/** GitHub App permission levels, weakest first. */
export const LEVELS = ['read', 'write', 'admin'] as const;
export type Level = (typeof LEVELS)[number];

const SCOPE_RE = /^([a-z][a-z0-9_]{0,63}):(read|write|admin|\*)$/;
const rank = (level: string | undefined): number => LEVELS.indexOf(level as Level) + 1;

/** What is wrong with a github scope, or undefined. Scopes are `PERMISSION:LEVEL`, `PERMISSION:*`. */
export function permissionScopeProblem(scope: string): string | undefined {
  return SCOPE_RE.test(scope)
    ? undefined
    : `GitHub scopes are PERMISSION:LEVEL with LEVEL read, write, admin or * (e.g. contents:read), got "${scope}"`;
}

/**
 * Turns granted scopes into the `permissions` object sent to GitHub: one level per permission,
 * the highest granted. `NAME:*` means the highest level the installation has for NAME. A level
 * above what the installation has is refused here, before GitHub is asked.
 */
export function toPermissions(scopes: readonly string[], installation: Readonly<Record<string, string>>): Record<string, Level> {
  const out: Record<string, Level> = {};
  for (const scope of scopes) {
    const match = SCOPE_RE.exec(scope);
    if (!match) throw new CreddyError('ERR_SCOPE_INVALID', permissionScopeProblem(scope) ?? scope, { details: { scope } });
    const name = match[1]!;
    const has = installation[name];
    const level = match[2] === '*' ? has : match[2];
    if (level === undefined || rank(has) === 0) {
      throw new CreddyError('ERR_SCOPE_DENIED', `the GitHub App installation has no "${name}" permission`, { details: { scope } });
    }
    if (rank(level) > rank(has)) {
      throw new CreddyError('ERR_SCOPE_DENIED', `the GitHub App installation has only ${name}:${has}`, { details: { scope } });
    }
    if (rank(level) > rank(out[name])) out[name] = level as Level;
  }
  return out;
}
