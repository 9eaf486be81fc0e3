import { CreddyError } from '../errors.js';
import type { Grant } from '../model/agent.js';
import { coveredBy, scopeProblem } from '../policy/scopes.js';
import type { Services } from '../services.js';

/**
 * Parses `--can` grants: `BACKEND:SCOPE[,BACKEND:SCOPE…]`. The backend is everything before the
 * first colon, so scopes may contain colons (`gh:contents:read`). Each grant must name a
 * configured backend and lie within its allowed_scopes: a grant the ceiling would silently cut
 * is a mistake worth reporting now.
 */
export function parseGrants(spec: string, services: Pick<Services, 'backends'>): Grant[] {
  const grants: Grant[] = [];
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    if (colon <= 0 || colon === part.length - 1) throw new CreddyError('ERR_USAGE', `grant "${part}" must be BACKEND:SCOPE`);
    const backend = part.slice(0, colon);
    const scope = part.slice(colon + 1);
    const configured = services.backends.get(backend);
    if (!configured) throw new CreddyError('ERR_USAGE', `grant "${part}": no backend named "${backend}" (see creddy backend list)`);
    const problem = scopeProblem(scope);
    if (problem) throw new CreddyError('ERR_USAGE', `grant "${part}": ${problem}`);
    if (!coveredBy(configured.common.allowedScopes, scope)) {
      throw new CreddyError(
        'ERR_USAGE',
        `grant "${part}": scope is outside ${backend}'s allowed_scopes (${configured.common.allowedScopes.join(', ')})`,
      );
    }
    grants.push({ backend, scope });
  }
  if (grants.length === 0) throw new CreddyError('ERR_USAGE', '--can needs at least one BACKEND:SCOPE');
  return grants;
}

const key = (g: Grant): string => `${g.backend}:${g.scope}`;

/** `existing` plus `added`, without duplicates; the grants that were new. */
export function addGrants(existing: readonly Grant[], added: readonly Grant[]): { grants: Grant[]; added: Grant[] } {
  const have = new Set(existing.map(key));
  const fresh = added.filter((g) => !have.has(key(g)) && have.add(key(g)));
  return { grants: [...existing, ...fresh], added: fresh };
}

/**
 * `existing` without `removed`. Each removed grant must be held exactly as written (a grant is a
 * pattern: removing `demo:read` does not narrow `demo:*`), and at least one must remain.
 */
export function removeGrants(existing: readonly Grant[], removed: readonly Grant[]): Grant[] {
  const have = new Set(existing.map(key));
  const missing = removed.filter((g) => !have.has(key(g)));
  if (missing.length > 0) {
    throw new CreddyError(
      'ERR_USAGE',
      `not held: ${missing.map(key).join(', ')} (the agent holds ${existing.map(key).join(', ')}; grants are removed exactly as written)`,
    );
  }
  const drop = new Set(removed.map(key));
  const grants = existing.filter((g) => !drop.has(key(g)));
  if (grants.length === 0) throw new CreddyError('ERR_USAGE', 'that would leave the agent no grants; revoke the agent instead');
  return grants;
}
