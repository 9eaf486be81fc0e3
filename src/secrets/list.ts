import { nowSeconds } from '../_utils/clock.js';
import type { SecretSettings } from '../backends/secret/config.js';
import { secretPathProblem } from '../backends/secret/path.js';
import { CreddyError } from '../errors.js';
import { servingBackends, shortestMaxAge } from './serving.js';
import type { SecretServices } from './write.js';

/** One path as `secret list` shows it: its latest version's facts, never a value. */
export interface SecretSummary {
  readonly path: string;
  readonly version: number;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly generated: boolean;
  readonly deletedAt: number | null;
  /** The secret backends that serve it. */
  readonly servedBy: readonly string[];
  /** The shortest max_age of those backends (seconds); undefined when none sets one. */
  readonly maxAge: number | undefined;
  /** Live and older than maxAge: due for rotation. */
  readonly due: boolean;
}

/** One version as `secret history` shows it. */
export interface SecretVersionSummary {
  readonly version: number;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly generated: boolean;
  readonly supersededAt: number | null;
  readonly readableUntil: number | null;
  /** Its value is gone (past its grace, or the path was deleted). */
  readonly erased: boolean;
  readonly deletedAt: number | null;
}

/** Paths starting with `prefix` (latest version each), live ones only unless `deleted`. */
export async function listSecrets(
  services: SecretServices,
  options: { prefix?: string; deleted?: boolean } = {},
): Promise<SecretSummary[]> {
  const prefix = options.prefix ?? '';
  if (/[^A-Za-z0-9_./-]/.test(prefix)) throw new CreddyError('ERR_USAGE', `"${prefix}" is not a secret path prefix`);
  const now = nowSeconds(services.clock);
  const latest = await services.store.secrets.latest(prefix);
  return latest
    .filter((r) => options.deleted === true || r.deletedAt === null)
    .map((r) => {
      const serving = servingBackends(services.config.backends, r.path);
      const maxAge = shortestMaxAge(serving);
      return {
        path: r.path,
        version: r.version,
        createdAt: r.createdAt,
        createdBy: r.createdBy,
        generated: r.generated,
        deletedAt: r.deletedAt,
        servedBy: serving.map((b) => b.name),
        maxAge,
        due: r.deletedAt === null && maxAge !== undefined && now - r.createdAt > maxAge,
      };
    });
}

/**
 * Live paths older than their max_age: what `secret list --due` prints. Also the hook for a
 * metric (`creddy_secrets_due` = the length of this list, by backend in `servedBy`).
 */
export async function dueSecrets(services: SecretServices, prefix = ''): Promise<SecretSummary[]> {
  return (await listSecrets(services, { prefix })).filter((s) => s.due);
}

/**
 * The `creddy_secrets_due` gauge: due paths counted under each backend that serves them, every
 * secret backend that sets `max_age` present (at 0 when nothing is due). Undefined when no
 * backend sets `max_age`, so a scrape reads nothing from the store.
 */
export function dueSecretCounter(services: SecretServices): (() => Promise<Map<string, number>>) | undefined {
  const watched = [...services.config.backends]
    .filter(([, { common, settings }]) => common.type === 'secret' && (settings as SecretSettings).maxAge !== undefined)
    .map(([name]) => name);
  if (watched.length === 0) return undefined;
  return async () => {
    const counts = new Map(watched.map((name) => [name, 0]));
    for (const secret of await dueSecrets(services)) for (const name of secret.servedBy) counts.set(name, (counts.get(name) ?? 0) + 1);
    return counts;
  };
}

/** Every version of a path, oldest first; ERR_SECRET_NOT_FOUND when it was never written. */
export async function secretHistory(services: SecretServices, path: string): Promise<SecretVersionSummary[]> {
  const problem = secretPathProblem(path);
  if (problem) throw new CreddyError('ERR_USAGE', problem);
  const versions = await services.store.secrets.versions(path);
  if (versions.length === 0) throw new CreddyError('ERR_SECRET_NOT_FOUND', `no secret at ${path}`, { details: { path } });
  return versions.map((v) => ({
    version: v.version,
    createdAt: v.createdAt,
    createdBy: v.createdBy,
    generated: v.generated,
    supersededAt: v.supersededAt,
    readableUntil: v.readableUntil,
    erased: v.sealed === null,
    deletedAt: v.deletedAt,
  }));
}
