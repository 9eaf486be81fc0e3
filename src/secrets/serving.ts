import type { SecretSettings } from '../backends/secret/config.js';
import type { BackendConfig } from '../backends/types.js';
import { coveredBy } from '../policy/scopes.js';

/** A secret backend that serves a path: its scopes cover it. */
export interface ServingBackend {
  readonly name: string;
  readonly settings: SecretSettings;
}

/**
 * The `type: secret` backends whose allowed_scopes cover `path`. Paths are one namespace: any of
 * them may serve it, each with its own grace and max_age.
 */
export function servingBackends(backends: ReadonlyMap<string, BackendConfig>, path: string): ServingBackend[] {
  const out: ServingBackend[] = [];
  for (const [name, { common, settings }] of backends) {
    if (common.type === 'secret' && coveredBy(common.allowedScopes, path)) out.push({ name, settings: settings as SecretSettings });
  }
  return out;
}

/** The longest grace among the backends serving a path (0 when none serves it). */
export const longestGrace = (serving: readonly ServingBackend[]): number => Math.max(0, ...serving.map((b) => b.settings.grace));

/** The shortest max_age among the backends serving a path: due as soon as any of them says so. */
export function shortestMaxAge(serving: readonly ServingBackend[]): number | undefined {
  const ages = serving.flatMap((b) => (b.settings.maxAge === undefined ? [] : [b.settings.maxAge]));
  return ages.length === 0 ? undefined : Math.min(...ages);
}
