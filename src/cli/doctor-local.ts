import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import { loadAuditKeys } from '../audit/key.js';
import type { Config } from '../config/types.js';
import { isCreddyError } from '../errors.js';
import { type KekSet, loadKeks } from '../keys/kek.js';
import { unsealSigningKey } from '../keys/unseal.js';
import { inspectStore, openStore } from '../store/open-store.js';
import { cliConfig } from './context.js';
import type { CliContext } from './io.js';

/**
 * The checks of `creddy doctor` that read only this machine: the config, the KEK and audit key,
 * the store. They change nothing (no file, key or migration is created). doctor-remote.ts asks
 * the services outside.
 */

/** One line of `creddy doctor`. */
export interface Check {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  /** What to change, for a warn or a fail. */
  readonly fix?: string;
}

export const quiet: Logger = { info() {}, warn() {}, error() {} };

/** The config, with every problem as a failed check under its key path. */
export function checkConfig(ctx: CliContext, flag: string | undefined): { config?: Config; checks: Check[] } {
  try {
    const config = cliConfig(ctx, flag);
    return { config, checks: [{ check: 'config', status: 'ok', message: `${config.source}: ${config.backends.size} backend(s)` }] };
  } catch (err) {
    if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
    const problems = err.details?.['problems'] as Array<{ path: string; problem: string }> | undefined;
    if (!problems)
      return {
        checks: [
          { check: 'config', status: 'fail', message: err.message, fix: 'run creddy init, or point --config / CREDDY_CONFIG at the file' },
        ],
      };
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
            fix: 'set CREDDY_KEK_FILE to a file of 64 hex chars (openssl rand -hex 32), CREDDY_KEK_PREVIOUS_FILE to the dev KEK, and run creddy keys rewrap',
          },
    );
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
  try {
    const audit = loadAuditKeys({ env, dataDir: config.dataDir });
    if (set('CREDDY_AUDIT_KEY'))
      checks.push({
        check: 'audit key',
        status: 'ok',
        message: `from ${env['CREDDY_AUDIT_KEY'] ? 'CREDDY_AUDIT_KEY' : 'CREDDY_AUDIT_KEY_FILE'}, id ${audit.current!.id}`,
      });
    else
      checks.push({
        check: 'audit key',
        status: 'warn',
        message: audit.current
          ? `development audit key ${join(config.dataDir, 'audit.key')}, stored beside the log`
          : 'no audit key configured: the server would create a development one',
        fix: 'set CREDDY_AUDIT_KEY_FILE (openssl rand -hex 32); keep the old key as CREDDY_AUDIT_KEY_PREVIOUS_FILE so older rows still verify',
      });
  } catch (err) {
    checks.push({
      check: 'audit key',
      status: 'fail',
      message: (err as Error).message,
      fix: 'CREDDY_AUDIT_KEY / CREDDY_AUDIT_KEY_FILE must hold 64 hex characters',
    });
  }
  return { checks, ...(keks ? { keks } : {}) };
}

/**
 * The store is there, readable, of this build's schema; and what it holds agrees with the keys:
 * the KEK opens the current signing key, the audit key sealed the newest row. Changes nothing.
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
    const [head] = await store.audit.query({ order: 'desc', limit: 1 });
    const auditKeys = loadAuditKeys({ env, dataDir: config.dataDir });
    if (head && !auditKeys.byId(head.keyId))
      checks.push({
        check: 'audit key',
        status: 'fail',
        message: `the newest audit row (seq ${head.seq}) was sealed by audit key ${head.keyId}, which is not configured`,
        fix: 'set CREDDY_AUDIT_KEY to that key, or keep it as CREDDY_AUDIT_KEY_PREVIOUS after a key change',
      });
    return { checks, ...(current ? { currentKid: current.kid } : {}) };
  } finally {
    await store.close();
  }
}
