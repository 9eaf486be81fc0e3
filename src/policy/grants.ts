import { redactCapped } from '../_utils/redact.js';
import { CreddyError } from '../errors.js';
import { coveredBy, SCOPE_MAX_LENGTH, SCOPES_MAX_COUNT, scopeProblem, withinAll } from './scopes.js';

/** What the scope decision needs to know of a backend (a `Backend` satisfies it). */
export interface ScopePolicy {
  readonly common: { readonly name: string; readonly allowedScopes: readonly string[]; readonly defaultScopes: readonly string[] };
  /** The backend's own scope check after the common grammar; a problem, or undefined. */
  checkScope(scope: string): string | undefined;
}

/**
 * Decides the granted scopes: every requested scope must lie inside the ceiling (the backend's
 * `allowed_scopes` ∩ the agent's grants for it) or the whole request is denied — never a silent
 * partial grant. With no scopes requested, the backend's `default_scopes` that fit the ceiling.
 * Granted ⊆ requested ∩ ceiling, always.
 */
export function decideScopes(requested: readonly unknown[] | undefined, backend: ScopePolicy, grants: readonly string[]): string[] {
  const allowed = backend.common.allowedScopes;
  if (grants.length === 0) {
    throw new CreddyError('ERR_BACKEND_FORBIDDEN', `agent has no grant for backend "${backend.common.name}"`, {
      details: { backend: backend.common.name },
    });
  }
  if (requested === undefined || requested.length === 0) {
    const defaults = backend.common.defaultScopes.filter((scope) => withinAll(scope, allowed, grants));
    if (defaults.length === 0) {
      throw new CreddyError(
        'ERR_SCOPE_INVALID',
        `no scopes requested and backend "${backend.common.name}" has no default scopes within your grants`,
        {
          details: { field: 'scopes' },
        },
      );
    }
    return defaults;
  }
  if (requested.length > SCOPES_MAX_COUNT) {
    throw new CreddyError('ERR_SCOPE_INVALID', `at most ${SCOPES_MAX_COUNT} scopes per request`, { details: { field: 'scopes' } });
  }
  const granted: string[] = [];
  for (const [index, scope] of requested.entries()) {
    const problem = scopeProblem(scope) ?? backend.checkScope(scope as string);
    if (problem) {
      // Which one, by position; its text only when it is text (redacted, then capped: it is echoed and audited).
      const which = typeof scope === 'string' ? { scope: redactCapped(scope, SCOPE_MAX_LENGTH) } : {};
      throw new CreddyError('ERR_SCOPE_INVALID', problem, { details: { field: 'scopes', index, ...which } });
    }
    const wanted = scope as string;
    if (!coveredBy(allowed, wanted)) {
      throw new CreddyError('ERR_SCOPE_DENIED', `scope "${wanted}" is not allowed on backend "${backend.common.name}"`, {
        details: { scope: wanted },
      });
    }
    if (!coveredBy(grants, wanted)) {
      throw new CreddyError('ERR_SCOPE_DENIED', `scope "${wanted}" is not granted to this agent on backend "${backend.common.name}"`, {
        details: { scope: wanted },
      });
    }
    if (!granted.includes(wanted)) granted.push(wanted);
  }
  return granted;
}

/**
 * Reads one grant `BACKEND:SCOPE` (agent `--can`, federation rule `can`). The backend is
 * everything before the first colon, so scopes may contain colons (`gh:contents:read`). The
 * grant must name a configured backend (`allowedScopes` answers undefined for others) and lie
 * within its allowed_scopes: a grant the ceiling would silently cut is a mistake worth reporting
 * where it is written. Returns the grant, or what is wrong with it.
 */
export function parseGrant(
  text: string,
  allowedScopes: (backend: string) => readonly string[] | undefined,
): { readonly backend: string; readonly scope: string } | { readonly problem: string } {
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return { problem: `grant "${text}" must be BACKEND:SCOPE` };
  const backend = text.slice(0, colon);
  const scope = text.slice(colon + 1);
  const allowed = allowedScopes(backend);
  if (!allowed) return { problem: `grant "${text}": no backend named "${backend}"` };
  const problem = scopeProblem(scope);
  if (problem) return { problem: `grant "${text}": ${problem}` };
  if (!coveredBy(allowed, scope)) {
    return { problem: `grant "${text}": scope is outside ${backend}'s allowed_scopes (${allowed.join(', ')})` };
  }
  return { backend, scope };
}

/**
 * The first of a credential's scopes that `grants` (an agent's, now) no longer cover on its
 * backend; undefined when they cover them all. What removing a grant takes away: the credentials
 * `agent revoke-grant` revokes, and an issuance in flight it refuses (credentials/issue.ts).
 */
export function uncoveredScope(
  grants: ReadonlyArray<{ readonly backend: string; readonly scope: string }>,
  credential: { readonly backend: string; readonly scopes: readonly string[] },
): string | undefined {
  const patterns = grants.filter((g) => g.backend === credential.backend).map((g) => g.scope);
  return credential.scopes.find((scope) => !coveredBy(patterns, scope));
}
