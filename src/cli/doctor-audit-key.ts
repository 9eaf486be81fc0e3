import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { type AuditKeySet, auditKeyConfigured, devAuditKeyId, devAuditKeyPath, loadAuditKeys } from '../audit/key.js';
import { describeRows, describeUnconfigured, UNCONFIGURED_KEY_FIX } from '../audit/unconfigured-keys.js';
import type { Config } from '../config/types.js';
import type { Store } from '../store/port.js';
import type { Check } from './doctor-check.js';

/**
 * The audit key checks of `creddy doctor`: which keys are configured (by id, never the key), a
 * development key file left beside a configured key (it is not trusted), key files kept where
 * whoever writes the log could replace them, and — with the store — which keys the log still
 * needs: a key that sealed rows but is not configured fails, a previous key that sealed none may go.
 */

const ids = (keys: readonly { id: string }[]): string => keys.map((k) => k.id).join(', ');

const source = (env: NodeJS.ProcessEnv, name: string): string => (env[name] ? name : `${name}_FILE (${env[`${name}_FILE`]})`);

/** True when `path` lies inside `dir` (a key kept there is as writable as the log it protects). */
const inside = (dir: string, path: string): boolean => {
  const rel = relative(resolve(dir), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith('/');
};

/** The configured audit keys, without the store. */
export function checkAuditKeys(env: NodeJS.ProcessEnv, config: Config): Check[] {
  let keys: AuditKeySet;
  try {
    keys = loadAuditKeys({ env, dataDir: config.dataDir });
  } catch (err) {
    return [
      {
        check: 'audit key',
        status: 'fail',
        message: (err as Error).message,
        fix: 'CREDDY_AUDIT_KEY / CREDDY_AUDIT_KEY_FILE, and each key of CREDDY_AUDIT_KEY_PREVIOUS / _PREVIOUS_FILE, must be 64 hex characters',
      },
    ];
  }
  const devPath = devAuditKeyPath(config.dataDir);
  const previous = keys.previous.length === 0 ? '' : `; previous: ${ids(keys.previous)} from ${source(env, 'CREDDY_AUDIT_KEY_PREVIOUS')}`;
  if (!auditKeyConfigured(env))
    return [
      {
        check: 'audit key',
        status: 'warn',
        message: keys.current
          ? `development audit key ${devPath} (id ${keys.current.id}), stored beside the log${previous}`
          : 'no audit key configured: the server would create a development one',
        fix: 'set CREDDY_AUDIT_KEY_FILE to a file outside data_dir (openssl rand -hex 32); if rows sealed by the development key are kept, copy it out of data_dir and name that copy in CREDDY_AUDIT_KEY_PREVIOUS_FILE, then delete it from data_dir',
      },
    ];
  const checks: Check[] = [
    { check: 'audit key', status: 'ok', message: `from ${source(env, 'CREDDY_AUDIT_KEY')}, id ${keys.current!.id}${previous}` },
  ];
  if (existsSync(devPath)) {
    const devId = devAuditKeyId(config.dataDir);
    checks.push({
      check: 'audit key',
      status: 'warn',
      message: `a development audit key file ${devPath}${devId ? ` (id ${devId})` : ''} exists beside the configured key; it is not trusted`,
      fix: `if you ran on it before configuring CREDDY_AUDIT_KEY and rows it sealed are still kept, copy it outside data_dir and add it to CREDDY_AUDIT_KEY_PREVIOUS_FILE; then delete ${devPath}. If you never ran on it, someone who can write data_dir planted it: investigate`,
    });
  }
  for (const name of ['CREDDY_AUDIT_KEY_FILE', 'CREDDY_AUDIT_KEY_PREVIOUS_FILE']) {
    const file = env[name];
    if (file && inside(config.dataDir, file))
      checks.push({
        check: 'audit key',
        status: 'warn',
        message: `${name} (${file}) is inside data_dir: whoever can write the log can replace the key that checks it`,
        fix: `move it out of data_dir (e.g. /etc/creddy, readable by the server alone) and point ${name} there`,
      });
  }
  return checks;
}

/** Which keys sealed the rows the log holds, against those configured. Changes nothing. */
export async function checkAuditKeyUsage(store: Store, env: NodeJS.ProcessEnv, config: Config): Promise<Check[]> {
  let keys: AuditKeySet;
  try {
    keys = loadAuditKeys({ env, dataDir: config.dataDir });
  } catch {
    return []; // checkAuditKeys has reported it
  }
  const usage = await store.audit.keyUsage();
  const checks: Check[] = [];
  const missing = usage.filter((u) => !keys.byId(u.keyId));
  if (missing.length > 0) {
    const devId = auditKeyConfigured(env) ? devAuditKeyId(config.dataDir) : undefined;
    const dev = devId === undefined ? undefined : missing.find((u) => u.keyId === devId);
    // A dev key you moved off sealed the start of the log. Rows after those of a configured key
    // were written by a process that had no audit key configured (a creddy command run without
    // it creates the file) or by whoever planted the file: either way not by your servers.
    const firstConfigured = Math.min(...usage.filter((u) => keys.byId(u.keyId)).map((u) => u.firstSeq));
    const devPath = devAuditKeyPath(config.dataDir);
    const planted = dev !== undefined && dev.firstSeq > firstConfigured;
    const devNote = !dev
      ? ''
      : planted
        ? `; key id ${dev.keyId} is the development key file ${devPath}, and its rows follow rows sealed by a configured key: written by a creddy command run without CREDDY_AUDIT_KEY, or by someone who planted the file`
        : `; key id ${dev.keyId} is the development key file ${devPath}`;
    checks.push({
      check: 'audit key',
      status: 'fail',
      message: `${describeUnconfigured(missing)}${devNote}`,
      fix: planted
        ? `read those rows (creddy audit list); unless you can account for every one, do not configure that key: find who could write data_dir, restore the database from a backup taken before seq ${dev.firstSeq} and delete ${devPath}`
        : dev
          ? `if you ran on the development key before configuring CREDDY_AUDIT_KEY, copy ${devPath} outside data_dir, name the copy in CREDDY_AUDIT_KEY_PREVIOUS_FILE and delete the original; otherwise: ${UNCONFIGURED_KEY_FIX}`
          : UNCONFIGURED_KEY_FIX,
    });
  }
  for (const key of keys.previous) {
    const used = usage.find((u) => u.keyId === key.id);
    checks.push(
      used
        ? {
            check: 'audit key',
            status: 'ok',
            message: `previous audit key id ${key.id} is still needed: it sealed ${describeRows(used)}; keep it until retention prunes them`,
          }
        : {
            check: 'audit key',
            status: 'ok',
            message: `previous audit key id ${key.id} sealed no row the log still holds: it may be dropped`,
          },
    );
  }
  return checks;
}
