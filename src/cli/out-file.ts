import { lstatSync } from 'node:fs';
import { writePrivateFile } from '../_utils/fs.js';
import { CreddyError } from '../errors.js';

/**
 * `--force` of a command that writes a file named by `--out`, as `creddy init --force`: without it
 * an existing file is never replaced (an old bundle is evidence).
 */
export const forceArg = {
  force: { type: 'boolean', description: 'Replace an existing file at --out (the name is replaced: a symlink there is not followed)' },
} as const;

const exists = (shown: string): CreddyError => new CreddyError('ERR_USAGE', `--out ${shown}: the file exists; use --force to replace it`);

/** Refuses an existing `path` (a dangling symlink included) before any work is done, unless `force`. */
export function checkOutFile(path: string, shown: string, force: boolean): void {
  if (force) return;
  try {
    lstatSync(path);
  } catch {
    return;
  }
  throw exists(shown);
}

/**
 * Writes `data` to `path` (0600) whole or not at all; an existing file, or one created meanwhile,
 * is refused unless `force` (writePrivateFile).
 */
export function writeOutFile(path: string, shown: string, data: Uint8Array, force: boolean): void {
  try {
    writePrivateFile(path, data, { overwrite: force });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists(shown);
    throw new CreddyError('ERR_USAGE', `--out ${shown}: cannot write it (${code ?? (err as Error).message})`, { cause: err });
  }
}
