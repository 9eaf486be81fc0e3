import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../_utils/logger.js';
import { devKeyFile, type KeyKind, readKeyVar, type SecretKey } from '../_utils/secret-key.js';
import { CreddyError } from '../errors.js';

/** A key-encryption key: 32 bytes for AES-256-GCM, with a non-secret id derived from it. */
export type Kek = SecretKey;

const KEK: KeyKind = { idLabel: 'creddy-kek-id', code: 'ERR_KEK_INVALID' };

/** The KEK that seals new data, plus the previous one during a KEK rotation. */
export interface KekSet {
  readonly current: Kek;
  readonly previous: Kek | undefined;
  byId(id: string): Kek | undefined;
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Loads the KEK from `CREDDY_KEK` or `CREDDY_KEK_FILE`. With neither set, creates
 * `<data_dir>/kek` (0600) and warns loudly: a KEK beside the database it protects only guards
 * against leaked backups, so it is for development only.
 */
export function loadKeks(options: {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  logger: Logger;
  createDevKek?: boolean;
  warnDev?: boolean;
}): KekSet {
  const { env, dataDir, logger } = options;
  let current = readKeyVar(env, 'CREDDY_KEK', KEK);
  if (!current) {
    const devPath = join(dataDir, 'kek');
    current = devKeyFile(devPath, KEK, { create: options.createDevKek !== false });
    if (!current) {
      throw new CreddyError(
        'ERR_KEK_INVALID',
        `no KEK: set CREDDY_KEK or CREDDY_KEK_FILE (or start the server once to create the dev KEK ${devPath})`,
      );
    }
    if (options.warnDev !== false)
      logger.warn('INSECURE: using a development KEK stored next to the database; set CREDDY_KEK or CREDDY_KEK_FILE in production', {
        kek_file: devPath,
      });
  }
  const previous = readKeyVar(env, 'CREDDY_KEK_PREVIOUS', KEK);
  const byId = new Map([current, previous].filter((k): k is Kek => k !== undefined).map((k) => [k.id, k]));
  return { current, previous, byId: (id) => byId.get(id) };
}

/**
 * The KEK where `loadKeks` would find it, for a reader that must not create one (`audit verify`):
 * undefined when neither `CREDDY_KEK` nor `CREDDY_KEK_FILE` is set and there is no development
 * file. A malformed configured KEK still throws ERR_KEK_INVALID.
 */
export function configuredKeks(options: { env: NodeJS.ProcessEnv; dataDir: string }): KekSet | undefined {
  if (!readKeyVar(options.env, 'CREDDY_KEK', KEK) && !devKeyFile(join(options.dataDir, 'kek'), KEK, { create: false })) return undefined;
  const quiet = { info() {}, warn() {}, error() {} };
  return loadKeks({ ...options, logger: quiet, createDevKek: false, warnDev: false });
}

/**
 * The id of the dev KEK file in `dataDir`, for messages only (doctor): beside a configured KEK it
 * is never read as a KEK. Undefined when the file is absent or not a key.
 */
export function devKekId(dataDir: string): string | undefined {
  try {
    return devKeyFile(join(dataDir, 'kek'), KEK, { create: false })?.id;
  } catch {
    return undefined;
  }
}

/**
 * Encrypts with AES-256-GCM under `kek`: a fresh 12-byte IV per call, `aad` bound into the tag
 * (e.g. the kid), so a sealed blob moved to another row fails to open. Layout: version | iv | tag | ct.
 */
export function seal(kek: Kek, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext]);
}

/** Decrypts a `seal` blob; any mismatch (wrong KEK, wrong AAD, short tag, altered byte) is ERR_KEK_INVALID. */
export function open(kek: Kek, sealed: Uint8Array, aad: string): Buffer {
  const blob = Buffer.from(sealed);
  if (blob.length < 1 + IV_BYTES + TAG_BYTES + 1 || blob[0] !== VERSION) {
    throw new CreddyError('ERR_KEK_INVALID', 'sealed data is truncated or of an unknown version');
  }
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  try {
    // authTagLength pins the tag at 16 bytes: GCM would otherwise accept a truncated tag.
    const decipher = createDecipheriv('aes-256-gcm', kek.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new CreddyError('ERR_KEK_INVALID', 'cannot decrypt sealed data: wrong KEK or the data was altered', { cause: err });
  }
}

/** Opens data sealed under the current KEK or, during a KEK rotation, the previous one. */
export function openWithAny(keks: KekSet, sealed: Uint8Array, aad: string): Buffer {
  try {
    return open(keks.current, sealed, aad);
  } catch (err) {
    if (!keks.previous) throw err;
    return open(keks.previous, sealed, aad);
  }
}

/** AAD of a sealed downstream revocation handle: bound to its credential's jti. */
export const revocationHandleAad = (jti: string): string => `creddy-revocation-handle:${jti}`;
