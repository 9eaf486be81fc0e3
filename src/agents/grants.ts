import { CreddyError } from '../errors.js';
import type { Grant } from '../model/agent.js';
import { parseGrant } from '../policy/grants.js';
import type { Services } from '../services.js';

/**
 * Parses `--can` grants: `BACKEND:SCOPE[,BACKEND:SCOPE…]`, each checked by `parseGrant` (a
 * configured backend, the scope grammar, within its allowed_scopes), the same checks federation
 * rules' `can` lists get at config load.
 */
export function parseGrants(spec: string, services: Pick<Services, 'backends'>): Grant[] {
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
    grants.push(parsed);
  }
  if (grants.length === 0) throw new CreddyError('ERR_USAGE', '--can needs at least one BACKEND:SCOPE');
  return grants;
}
