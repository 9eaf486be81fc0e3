import { join } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import { devKeyFile, type KeyKind, readKeyVar, type SecretKey } from '../_utils/secret-key.js';

/** The HMAC key of the audit chain, with a non-secret id stored on every row it sealed. */
export type AuditKey = SecretKey;

const AUDIT_KEY: KeyKind = { idLabel: 'creddy-audit-key-id', code: 'ERR_CONFIG_INVALID' };

/**
 * Loads the audit HMAC key from `CREDDY_AUDIT_KEY` or `CREDDY_AUDIT_KEY_FILE`; otherwise creates
 * `<data_dir>/audit.key` (0600) with a loud warning — a key beside the log it protects only
 * detects edits by someone who cannot read that file.
 */
export function loadAuditKey(options: { env: NodeJS.ProcessEnv; dataDir: string; logger: Logger; warnDev?: boolean }): AuditKey {
  const { env, dataDir, logger } = options;
  const configured = readKeyVar(env, 'CREDDY_AUDIT_KEY', AUDIT_KEY);
  if (configured) return configured;
  const devPath = join(dataDir, 'audit.key');
  if (options.warnDev !== false)
    logger.warn(
      'INSECURE: using a development audit key stored next to the database; set CREDDY_AUDIT_KEY or CREDDY_AUDIT_KEY_FILE in production',
      {
        audit_key_file: devPath,
      },
    );
  return devKeyFile(devPath, AUDIT_KEY, { create: true })!;
}

/** Every audit key this process knows: the current one (which seals new rows) and older ones. */
export interface AuditKeySet {
  /** Undefined only when loaded for verification and no key is configured. */
  readonly current: AuditKey | undefined;
  readonly all: readonly AuditKey[];
  byId(id: string): AuditKey | undefined;
}

/**
 * Loads the keys verification needs, without ever creating one: `CREDDY_AUDIT_KEY` (or the dev
 * key file when that is unset), plus `CREDDY_AUDIT_KEY_PREVIOUS` / `_PREVIOUS_FILE` — the key
 * before a key change, so rows it sealed still verify — plus the dev key file if it exists (rows
 * written before production keys were set). Each row names its key id; verify picks by that.
 */
export function loadAuditKeys(options: { env: NodeJS.ProcessEnv; dataDir?: string }): AuditKeySet {
  const { env, dataDir } = options;
  const devPath = dataDir === undefined ? undefined : join(dataDir, 'audit.key');
  const dev = devPath === undefined ? undefined : devKeyFile(devPath, AUDIT_KEY, { create: false });
  const current = readKeyVar(env, 'CREDDY_AUDIT_KEY', AUDIT_KEY) ?? dev;
  const all = [current, readKeyVar(env, 'CREDDY_AUDIT_KEY_PREVIOUS', AUDIT_KEY), dev].filter((k): k is AuditKey => k !== undefined);
  const byId = new Map(all.map((k) => [k.id, k]));
  return { current, all: [...byId.values()], byId: (id) => byId.get(id) };
}
