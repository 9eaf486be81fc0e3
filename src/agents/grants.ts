import type { BackendCommon } from '../backends/types.js';
import { CreddyError } from '../errors.js';
import type { Grant } from '../model/agent.js';
import { parseGrant } from '../policy/grants.js';

const key = (g: Grant): string => `${g.backend}:${g.scope}`;

/**
 * Parses `--can` grants: `BACKEND:SCOPE[,BACKEND:SCOPE…]`, each checked by `parseGrant` (a
 * configured backend, the scope grammar, within its allowed_scopes), the same checks federation
 * rules' `can` lists get at config load.
 */
export function parseGrants(
  spec: string,
  services: { readonly backends: ReadonlyMap<string, { readonly common: BackendCommon }> },
): Grant[] {
  const grants: Grant[] = [];
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const parsed = parseGrant(part, (name) => services.backends.get(name)?.common.allowedScopes);
    if ('problem' in parsed) {
      const hint = parsed.problem.includes('no backend named') ? ' (see creddy backend list)' : '';
      throw new CreddyError('ERR_USAGE', `${parsed.problem}${hint}`);
    }
    // `--can demo:read,demo:read` holds one grant, as `agent grant` would make it.
    if (!grants.some((g) => key(g) === key(parsed))) grants.push(parsed);
  }
  if (grants.length === 0) throw new CreddyError('ERR_USAGE', '--can needs at least one BACKEND:SCOPE');
  return grants;
}

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
