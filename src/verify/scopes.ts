/**
 * Scope coverage as the broker grants it: a concrete scope covers only itself; a scope ending in
 * `*` covers every scope that starts with its prefix, including narrower wildcards (`files:*`
 * covers `files:read` and `files:r*`), and `*` covers everything. Case-sensitive, no
 * normalisation. (The broker's policy applies the same rule to requests; the SDK cannot import it.)
 */
function covers(granted: string, required: string): boolean {
  if (!granted.endsWith('*')) return granted === required;
  const prefix = granted.slice(0, -1);
  return (required.endsWith('*') ? required.slice(0, -1) : required).startsWith(prefix);
}

/** The required scopes that no granted scope (space-separated `scope` claim) covers. */
export function missingScopes(scopeClaim: string, required: readonly string[]): string[] {
  const granted = scopeClaim.split(' ').filter(Boolean);
  return required.filter((scope) => !granted.some((g) => covers(g, scope)));
}
