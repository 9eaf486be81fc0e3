import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CreddyError, type ErrorCode } from '../errors.js';
import { ensurePrivateDir, writePrivateFile } from './fs.js';

/** A 32-byte secret key with a non-secret id that rows record to say which key they used. */
export interface SecretKey {
  readonly id: string;
  readonly key: Buffer;
}

/** What kind of key is being read: its id domain and the error code for bad input. */
export interface KeyKind {
  /** Domain-separation label of the id hash (`creddy-kek-id`, `creddy-audit-key-id`). */
  readonly idLabel: string;
  readonly code: ErrorCode;
}

const HEX_KEY_RE = /^[0-9a-fA-F]{64}$/;

/**
 * Parses 64 hex characters. The id is a hash prefix of the key: it tells keys apart without
 * revealing anything usable about a random 256-bit key.
 */
export function keyFromHex(hex: string, source: string, kind: KeyKind): SecretKey {
  const trimmed = hex.trim();
  if (!HEX_KEY_RE.test(trimmed)) {
    throw new CreddyError(kind.code, `${source} must be 64 hex characters (32 bytes); generate one with: openssl rand -hex 32`);
  }
  const key = Buffer.from(trimmed, 'hex');
  return { id: createHash('sha256').update(`${kind.idLabel}:`).update(key).digest('hex').slice(0, 16), key };
}

/** Reads `NAME` (the hex itself) or `NAME_FILE` (a path to it); undefined when neither is set. */
export function readKeyVar(env: NodeJS.ProcessEnv, name: string, kind: KeyKind): SecretKey | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return keyFromHex(direct, name, kind);
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CreddyError(kind.code, `${name}_FILE: cannot read ${file}`);
  }
  return keyFromHex(text, `${name}_FILE (${file})`, kind);
}

/**
 * Reads a list of keys from `NAME` (separated by commas) or `NAME_FILE` (a path to a file of
 * them, one per line; commas work there too); `NAME` wins when both are set, as for a single
 * key. Surrounding whitespace and empty entries are ignored; the same key twice counts once.
 * A bad entry is named by its position, never echoed: it may be most of a key.
 */
export function readKeyListVar(env: NodeJS.ProcessEnv, name: string, kind: KeyKind): SecretKey[] {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  let text: string;
  let source: string;
  if (direct !== undefined && direct !== '') {
    text = direct;
    source = name;
  } else if (file !== undefined && file !== '') {
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new CreddyError(kind.code, `${name}_FILE: cannot read ${file}`);
    }
    source = `${name}_FILE (${file})`;
  } else return [];
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const keys = new Map<string, SecretKey>();
  entries.forEach((entry, i) => {
    const key = keyFromHex(entry, entries.length > 1 ? `${source}, key ${i + 1} of ${entries.length},` : source, kind);
    keys.set(key.id, key);
  });
  return [...keys.values()];
}

/** Reads a development key file, creating it (random, 0600, never overwritten) if missing. */
export function devKeyFile(path: string, kind: KeyKind, options: { create: boolean }): SecretKey | undefined {
  if (!existsSync(path)) {
    if (!options.create) return undefined;
    try {
      // The data dir exists already with SQLite (it holds the database), not with PostgreSQL.
      ensurePrivateDir(dirname(path));
      writePrivateFile(path, `${randomBytes(32).toString('hex')}\n`);
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CreddyError(kind.code, `cannot create ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return keyFromHex(readFileSync(path, 'utf8'), path, kind);
}
