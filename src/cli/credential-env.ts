import type { DownstreamCredential, SecretValue } from '../wire.js';
import type { CliOutput } from './io.js';

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
  for (const [, secret] of secretsOf(c)) if (injected(secret)) env[secret.env] = secret.value;
  return env;
}

const injected = (secret: SecretValue): secret is SecretValue & { env: string; value: string } =>
  !!secret.env && ENV_NAME_RE.test(secret.env) && !secret.env.startsWith('CREDDY_') && typeof secret.value === 'string';

/** Paths of a `secret_values` credential that secretEnv leaves out (not injected by exec, not printed by --format env). */
export function unnamedSecretPaths(c: DownstreamCredential | null): string[] {
  return secretsOf(c)
    .filter(([, secret]) => !injected(secret))
    .map(([path]) => path);
}

/**
 * Says on stderr which secrets `exec` and `--format env` leave out, so none goes missing
 * silently (the JSON formats carry every path).
 */
export function noteUnnamedSecrets(stderr: CliOutput, c: DownstreamCredential | null): void {
  const unnamed = unnamedSecretPaths(c);
  if (unnamed.length > 0) stderr.write(`creddy: not in the environment (no env name in the backend's config): ${unnamed.join(', ')}\n`);
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
