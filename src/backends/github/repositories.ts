import { CreddyError } from '../../errors.js';

/** `owner/repo` as GitHub spells full names; `*` as the whole repo part means every repo of owner. */
const FULL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}$/;
const CEILING_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/(?:\*|[A-Za-z0-9._-]{1,100})$/;

/** Most repositories one request may name (GitHub accepts up to 500; a task rarely needs many). */
export const MAX_REQUESTED_REPOSITORIES = 100;

/** Validates the configured ceiling; `fail` names the offending index. */
export function parseRepositoryCeiling(entries: string[], fail: (index: number, problem: string) => never): string[] {
  entries.forEach((entry, i) => {
    if (!CEILING_RE.test(entry) || entry === '*/*') fail(i, 'must be OWNER/REPO or OWNER/*');
  });
  return entries;
}

// GitHub logins and repository names are case-insensitive; compare them that way, send them as given.
const lower = (s: string): string => s.toLowerCase();
const ownerOf = (full: string): string => full.slice(0, full.indexOf('/'));
const nameOf = (full: string): string => full.slice(full.indexOf('/') + 1);

function inCeiling(ceiling: readonly string[], full: string): boolean {
  return ceiling.some((entry) => (nameOf(entry) === '*' ? lower(ownerOf(entry)) === lower(ownerOf(full)) : lower(entry) === lower(full)));
}

/** The repositories a token is for: `all` (the whole installation) or full names. */
export type RepositorySelection = { readonly all: true } | { readonly all: false; readonly fullNames: readonly string[] };

/**
 * Decides which repositories the installation token may touch. A request's `repositories` must
 * lie inside the ceiling and belong to the installation's account: GitHub takes bare names, so
 * `other-org/widgets` would otherwise silently become this account's `widgets`. Without a
 * request, the ceiling decides: `account/*` or no ceiling means the whole installation, else its
 * listed repositories of that account.
 */
export function selectRepositories(requested: unknown, ceiling: readonly string[] | undefined, account: string): RepositorySelection {
  if (requested !== undefined && requested !== null) {
    if (!Array.isArray(requested) || requested.length === 0 || requested.length > MAX_REQUESTED_REPOSITORIES) {
      throw badRequest(`must be a list of 1-${MAX_REQUESTED_REPOSITORIES} OWNER/REPO names`);
    }
    const picked: string[] = [];
    for (const item of requested) {
      if (typeof item !== 'string' || !FULL_NAME_RE.test(item)) throw badRequest(`"${String(item).slice(0, 140)}" is not OWNER/REPO`);
      if (ceiling && !inCeiling(ceiling, item)) {
        throw new CreddyError('ERR_SCOPE_DENIED', `repository "${item}" is outside this backend's repositories`, {
          details: { repository: item },
        });
      }
      if (lower(ownerOf(item)) !== lower(account)) {
        throw new CreddyError('ERR_SCOPE_DENIED', `repository "${item}" does not belong to the GitHub App installation of "${account}"`, {
          details: { repository: item },
        });
      }
      if (!picked.some((p) => lower(p) === lower(item))) picked.push(item);
    }
    return { all: false, fullNames: picked };
  }
  if (!ceiling || ceiling.some((entry) => nameOf(entry) === '*' && lower(ownerOf(entry)) === lower(account))) return { all: true };
  const listed = ceiling.filter((entry) => lower(ownerOf(entry)) === lower(account));
  if (listed.length === 0) {
    throw new CreddyError('ERR_SCOPE_DENIED', `no repository in this backend's ceiling belongs to the installation of "${account}"`);
  }
  return { all: false, fullNames: listed };
}

/** Bare repository names, as GitHub's access-token endpoint wants them. */
export const bareNames = (fullNames: readonly string[]): string[] => fullNames.map(nameOf);

function badRequest(problem: string): CreddyError {
  return new CreddyError('ERR_BAD_REQUEST', `repositories: ${problem}`, { details: { field: 'repositories' } });
}
