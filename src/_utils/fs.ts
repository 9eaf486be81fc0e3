import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';

/**
 * Creates `dir` (and parents) and forces mode 0700 whatever the umask: the data dir holds the
 * database and possibly the dev KEK.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Creates `dir` (and parents) with mode 0700 if it does not exist; an existing directory is left
 * exactly as it is (`creddy init` in a repository must not chmod the repository).
 */
export function createPrivateDirIfMissing(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes a file readable only by its owner (0600), whatever the umask. */
export function writePrivateFile(path: string, data: string | Uint8Array, options: { exclusive?: boolean } = {}): void {
  writeFileSync(path, data, { mode: 0o600, flag: options.exclusive ? 'wx' : 'w' });
  chmodSync(path, 0o600);
}

/** Forces 0600 on a file if it exists (SQLite creates -wal/-shm with the umask's mode). */
export function restrictFile(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
}
