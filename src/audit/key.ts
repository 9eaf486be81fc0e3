import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import { devKeyFile, type KeyKind, readKeyListVar, readKeyVar, type SecretKey } from '../_utils/secret-key.js';

/** The HMAC key of the audit chain, with a non-secret id stored on every row it sealed. */
export type AuditKey = SecretKey;

const AUDIT_KEY: KeyKind = { idLabel: 'creddy-audit-key-id', code: 'ERR_CONFIG_INVALID' };

/** `<data_dir>/audit.key`: the development audit key, used only while no audit key is configured. */
export const devAuditKeyPath = (dataDir: string): string => join(dataDir, 'audit.key');

/** True when `CREDDY_AUDIT_KEY` or `CREDDY_AUDIT_KEY_FILE` names the audit key: the dev key file is then never trusted. */
export const auditKeyConfigured = (env: NodeJS.ProcessEnv): boolean => Boolean(env['CREDDY_AUDIT_KEY'] || env['CREDDY_AUDIT_KEY_FILE']);

/**
 * Loads the audit HMAC key from `CREDDY_AUDIT_KEY` or `CREDDY_AUDIT_KEY_FILE`; otherwise creates
 * `<data_dir>/audit.key` (0600) with a loud warning — a key beside the log it protects only
 * detects edits by someone who cannot read that file.
 */
export function loadAuditKey(options: { env: NodeJS.ProcessEnv; dataDir: string; logger: Logger; warnDev?: boolean }): AuditKey {
  const { env, dataDir, logger } = options;
  const devPath = devAuditKeyPath(dataDir);
  const configured = readKeyVar(env, 'CREDDY_AUDIT_KEY', AUDIT_KEY);
  if (configured) {
    if (options.warnDev !== false && existsSync(devPath))
      logger.warn(
        'a development audit key file exists beside the configured audit key; it is not trusted: if rows it sealed are still kept, move the key into CREDDY_AUDIT_KEY_PREVIOUS_FILE outside data_dir, then delete the file',
        { audit_key_file: devPath },
      );
    return configured;
  }
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
  /** The keys of earlier audit key changes (`CREDDY_AUDIT_KEY_PREVIOUS`), for rows they sealed. */
  readonly previous: readonly AuditKey[];
  readonly all: readonly AuditKey[];
  byId(id: string): AuditKey | undefined;
}

/**
 * Loads the keys verification needs, without ever creating one: `CREDDY_AUDIT_KEY` (or, only when
 * it and `CREDDY_AUDIT_KEY_FILE` are unset, the dev key file), plus `CREDDY_AUDIT_KEY_PREVIOUS`
 * (keys separated by commas) or `_PREVIOUS_FILE` (one key per line) — the keys of earlier key
 * changes, so rows they sealed still verify. Each row names its key id; verify picks by that.
 *
 * The dev key file is never trusted beside a configured key: whoever can write data_dir could
 * plant one and seal rows with it. An operator moving off the dev key names it as a previous key.
 */
export function loadAuditKeys(options: { env: NodeJS.ProcessEnv; dataDir?: string }): AuditKeySet {
  const { env, dataDir } = options;
  const configured = readKeyVar(env, 'CREDDY_AUDIT_KEY', AUDIT_KEY);
  const current = configured ?? (dataDir === undefined ? undefined : devKeyFile(devAuditKeyPath(dataDir), AUDIT_KEY, { create: false }));
  const previous = readKeyListVar(env, 'CREDDY_AUDIT_KEY_PREVIOUS', AUDIT_KEY);
  const byId = new Map([current, ...previous].filter((k): k is AuditKey => k !== undefined).map((k) => [k.id, k]));
  return { current, previous, all: [...byId.values()], byId: (id) => byId.get(id) };
}

/**
 * Reads the id of the dev key file, if there is one, for messages only (doctor): beside a
 * configured key it is not trusted, but its id tells whether rows a log holds were sealed by it.
 * Undefined when the file is absent or not a key.
 */
export function devAuditKeyId(dataDir: string): string | undefined {
  try {
    return devKeyFile(devAuditKeyPath(dataDir), AUDIT_KEY, { create: false })?.id;
  } catch {
    return undefined;
  }
}
