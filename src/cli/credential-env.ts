import type { DownstreamCredential, SecretValue } from '../wire.js';

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const str = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The `secrets` map of a `secret_values` credential, or none. */
export function secretsOf(c: DownstreamCredential | null): Array<[path: string, secret: SecretValue]> {
  if (c?.type !== 'secret_values' || typeof c['secrets'] !== 'object' || c['secrets'] === null) return [];
  return Object.entries(c['secrets'] as Record<string, SecretValue>);
}

/**
 * A `secret_values` credential as variables: each path under the name its backend's `env` gives
 * it. Paths without a name are left out (see unnamedSecretPaths): a name derived from a path could
 * shadow PATH or LD_PRELOAD. Names are checked again here; CREDDY_* stays creddy's own.
 */
export function secretEnv(c: DownstreamCredential): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, secret] of secretsOf(c)) {
    const name = secret.env;
    if (name && ENV_NAME_RE.test(name) && !name.startsWith('CREDDY_') && typeof secret.value === 'string') env[name] = secret.value;
  }
  return env;
}

/** Paths of a `secret_values` credential that have no variable name (not injected by exec or --format env). */
export function unnamedSecretPaths(c: DownstreamCredential | null): string[] {
  return secretsOf(c)
    .filter(([, secret]) => !secret.env)
    .map(([path]) => path);
}

/** A `postgres_role` credential as libpq's variables (psql, pg_dump, most drivers) and DATABASE_URL. */
export function postgresEnv(c: DownstreamCredential): Record<string, string> {
  const env: Record<string, string> = {};
  const put = (name: string, value: unknown): void => {
    const text = typeof value === 'number' ? String(value) : str(value);
    if (text !== undefined) env[name] = text;
  };
  put('PGHOST', c['host']);
  put('PGPORT', c['port']);
  put('PGDATABASE', c['database']);
  put('PGUSER', c['user']);
  put('PGPASSWORD', c['password']);
  put('DATABASE_URL', c['url']);
  return env;
}
