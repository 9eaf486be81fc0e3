import type { ConfigReader } from '../../_utils/config-reader.js';
import { coveredBy } from '../../policy/scopes.js';
import { secretPathProblem, secretScopeProblem } from './path.js';

/** Settings of `type: secret`. Durations in seconds. */
export interface SecretSettings {
  /** Environment variable names for paths (`creddy exec`, `--format env`), path → NAME. */
  readonly env: ReadonlyMap<string, string>;
  /** How long a replaced version stays readable after a rotation (0: not at all). */
  readonly grace: number;
  /** Values older than this are due for rotation (`creddy secret list --due`); undefined: never. */
  readonly maxAge: number | undefined;
}

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Reads the secret-specific keys. Every allowed and default scope must be a secret path or a
 * path prefix ending in `*`; `env` names only paths this backend serves, each with its own
 * variable, never a `CREDDY_*` one (those are creddy's own, and `creddy exec` strips CREDDY_TOKEN).
 */
export function parseSecretSettings(reader: ConfigReader): SecretSettings {
  const allowed = reader.stringList('allowed_scopes');
  allowed.forEach((scope, i) => {
    const problem = secretScopeProblem(scope);
    if (problem) reader.fail(`allowed_scopes[${i}]`, problem);
  });
  reader.stringList('default_scopes', []).forEach((scope, i) => {
    const problem = secretScopeProblem(scope);
    if (problem) reader.fail(`default_scopes[${i}]`, problem);
  });
  const env = new Map<string, string>();
  const raw = reader.value('env');
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) reader.fail('env', 'must be a mapping of secret path to variable name');
    const names = new Map<string, string>();
    for (const [path, name] of Object.entries(raw as Record<string, unknown>)) {
      const key = `env.${path}`;
      const problem = secretPathProblem(path);
      if (problem) reader.fail(key, problem);
      if (!coveredBy(allowed, path)) reader.fail(key, 'is not covered by allowed_scopes (this backend never serves it)');
      if (typeof name !== 'string' || !ENV_NAME_RE.test(name))
        reader.fail(key, 'must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)');
      if (name.startsWith('CREDDY_')) reader.fail(key, 'CREDDY_* variables are creddy’s own; choose another name');
      const other = names.get(name);
      if (other !== undefined) reader.fail(key, `${name} is already the variable of ${other}`);
      names.set(name, path);
      env.set(path, name);
    }
  }
  const maxAge = reader.optionalDuration('max_age');
  if (maxAge === 0) reader.fail('max_age', 'must be longer than 0s (leave it out for no rotation reminder)');
  return { env, grace: reader.duration('grace', 0), maxAge };
}
