import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import type { Config } from '../config/types.js';
import { isCreddyError } from '../errors.js';
import { devKekId, type KekSet, loadKeks } from '../keys/kek.js';
import { unsealSigningKey } from '../keys/unseal.js';
import { inspectStore, openStore } from '../store/open-store.js';
import { cliConfig } from './context.js';
import { checkAuditKeys, checkAuditKeyUsage } from './doctor-audit-key.js';
import type { Check } from './doctor-check.js';
import type { CliContext } from './io.js';

/**
 * The checks of `creddy doctor` that read only this machine: the config, the KEK and audit key,
 * the store. They change nothing (no file, key or migration is created). doctor-remote.ts asks
 * the services outside.
 */

export type { Check } from './doctor-check.js';

export const quiet: Logger = { info() {}, warn() {}, error() {} };

/** The config, with every problem as a failed check under its key path. */
export function checkConfig(ctx: CliContext, flag: string | undefined): { config?: Config; checks: Check[] } {
  try {
    const config = cliConfig(ctx, flag);
    return { config, checks: [{ check: 'config', status: 'ok', message: `${config.source}: ${config.backends.size} backend(s)` }] };
  } catch (err) {
    if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
    const problems = err.details?.['problems'] as Array<{ path: string; problem: string }> | undefined;
    if (!problems) {
      // A file that could not be read says why and what to do (`details.errno`, config/load.ts):
      // "run creddy init" would be wrong for a file that exists but is not readable.
      const fix = err.details?.['errno'] === undefined ? { fix: 'run creddy init, or point --config / CREDDY_CONFIG at the file' } : {};
      return { checks: [{ check: 'config', status: 'fail', message: err.message, ...fix }] };
    }
    return {
      checks: problems.map(({ path, problem }) => ({
        check: 'config',
        status: 'fail',
        message: `${path}: ${problem}`,
        fix: `edit ${path || 'the file'}`,
      })),
    };
  }
}

/** The KEK and audit key: configured (not the development files beside the database) and well-formed. */
export function checkSecrets(env: NodeJS.ProcessEnv, config: Config): { checks: Check[]; keks?: KekSet } {
  const checks: Check[] = [];
  const set = (name: string) => Boolean(env[name] || env[`${name}_FILE`]);
  let keks: KekSet | undefined;
  try {
    keks = loadKeks({ env, dataDir: config.dataDir, logger: quiet, createDevKek: false, warnDev: false });
    checks.push(
      set('CREDDY_KEK')
        ? {
            check: 'kek',
            status: 'ok',
            message: `from ${env['CREDDY_KEK'] ? 'CREDDY_KEK' : `CREDDY_KEK_FILE (${env['CREDDY_KEK_FILE']})`}, id ${keks.current.id}`,
          }
        : {
            check: 'kek',
            status: 'warn',
            message: `development KEK ${join(config.dataDir, 'kek')}, stored beside the database it protects`,
            // The restarts matter: after the rewrap, a broker still on the dev KEK alone cannot
            // open the keys at its next start (docs/keys.md "KEK rotation").
            fix: 'set CREDDY_KEK_FILE to a file of 64 hex chars (openssl rand -hex 32) and CREDDY_KEK_PREVIOUS_FILE to a copy of the dev KEK outside data_dir, restart every broker with both, run creddy keys rewrap, then drop CREDDY_KEK_PREVIOUS_FILE and restart them again; a broker left on the dev KEK alone fails its next start with ERR_KEK_INVALID',
          },
    );
    const devKek = join(config.dataDir, 'kek');
    // Never read as a KEK beside a configured one (keys/kek.ts); a leftover still holds a key that
    // opened data, and one named as the previous KEK can be replaced by whoever writes data_dir.
    if (set('CREDDY_KEK') && existsSync(devKek)) {
      const asPrevious = keks.previous !== undefined && keks.previous.id === devKekId(config.dataDir);
      checks.push({
        check: 'kek',
        status: 'warn',
        message: asPrevious
          ? `CREDDY_KEK_PREVIOUS is the development KEK file ${devKek}, inside data_dir`
          : `a development KEK file ${devKek} exists beside the configured KEK; it is not used`,
        fix: asPrevious
          ? `run creddy keys rewrap, then drop CREDDY_KEK_PREVIOUS from every broker, restart them, and delete ${devKek}`
          : `delete ${devKek} (if data is still sealed under it, name a copy outside data_dir in CREDDY_KEK_PREVIOUS_FILE and run creddy keys rewrap first); if you never ran on it, someone who can write data_dir put it there: investigate`,
      });
    }
  } catch (err) {
    const missing = !set('CREDDY_KEK') && !existsSync(join(config.dataDir, 'kek'));
    checks.push(
      missing
        ? {
            check: 'kek',
            status: 'warn',
            message: 'no KEK configured: the server would create a development KEK in data_dir',
            fix: 'set CREDDY_KEK_FILE (openssl rand -hex 32)',
          }
        : {
            check: 'kek',
            status: 'fail',
            message: (err as Error).message,
            fix: 'CREDDY_KEK / CREDDY_KEK_FILE must hold 64 hex characters',
          },
    );
  }
  checks.push(...checkAuditKeys(env, config));
  return { checks, ...(keks ? { keks } : {}) };
}

/**
 * The store is there, readable, of this build's schema; and what it holds agrees with the keys:
 * the KEK opens the current signing key, every audit key that sealed a row is configured. Changes nothing.
 */
export async function checkStore(
  env: NodeJS.ProcessEnv,
  config: Config,
  keks: KekSet | undefined,
): Promise<{ checks: Check[]; currentKid?: string }> {
  const status = await inspectStore(config.store);
  const where = config.store.kind === 'sqlite' ? config.store.path : 'the store';
  // PostgreSQL that cannot be reached is a failure, not a database still to be created: only
  // SQLite's file is created by the first start.
  if (!status.exists && status.error !== undefined)
    return {
      checks: [
        {
          check: 'store',
          status: 'fail',
          message: `cannot reach ${status.error}`,
          fix: 'check the store URL, that PostgreSQL is running and that it accepts this role (creddy store migrate creates the schema)',
        },
      ],
    };
  if (!status.exists)
    return {
      checks: [
        {
          check: 'store',
          status: 'warn',
          message: `no database yet at ${where}`,
          fix: 'it is created when the server first starts (creddy server)',
        },
      ],
    };
  if (status.version === null)
    return {
      checks: [
        {
          check: 'store',
          status: 'fail',
          message: `${where} cannot be read: ${status.error}`,
          fix: 'check the file, its owner and mode (0600, the server user)',
        },
      ],
    };
  if (status.version > status.latest)
    return {
      checks: [
        {
          check: 'store',
          status: 'fail',
          message: `schema v${status.version} is newer than this creddy (v${status.latest})`,
          fix: 'run the creddy version that wrote it, or newer',
        },
      ],
    };
  if (status.version < status.latest)
    return {
      checks: [
        {
          check: 'store',
          status: 'warn',
          message: `schema v${status.version}; this creddy migrates it to v${status.latest} when it opens the store`,
          fix: 'back up the database before the upgrade starts',
        },
      ],
    };
  const checks: Check[] = [{ check: 'store', status: 'ok', message: `${where}: reachable, schema v${status.version} (current)` }];
  const store = await openStore(config.store, { auditOffThread: false });
  try {
    const current = (await store.keys.list()).find((k) => k.state === 'current');
    if (current && keks) {
      try {
        unsealSigningKey(keks, current);
        checks.push({ check: 'kek', status: 'ok', message: `opens the current signing key ${current.kid}` });
      } catch (err) {
        checks.push({
          check: 'kek',
          status: 'fail',
          message: (err as Error).message,
          fix: 'set the KEK that sealed the keys (CREDDY_KEK_PREVIOUS during a KEK rotation, then creddy keys rewrap)',
        });
      }
    }
    checks.push(...(await checkAuditKeyUsage(store, env, config)));
    return { checks, ...(current ? { currentKid: current.kid } : {}) };
  } finally {
    await store.close();
  }
}
