import { lstatSync } from 'node:fs';
import { createPrivateFile, type PrivateFileWriter } from '../_utils/fs.js';
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

/** What went wrong writing `--out`, said as a usage problem (the path is the operator's to fix). */
function outFileError(err: unknown, shown: string): CreddyError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return exists(shown);
  return new CreddyError('ERR_USAGE', `--out ${shown}: cannot write it (${code ?? (err as Error).message})`, { cause: err });
}

/**
 * Writes `path` (0600) a piece at a time, whole or not at all (createPrivateFile): the file is
 * created on the first piece, takes its name on `commit`, and an existing file, or one created
 * meanwhile, is refused unless `force`. `abort` leaves nothing behind.
 */
export function openOutFile(path: string, shown: string, force: boolean): PrivateFileWriter {
  let file: PrivateFileWriter | undefined;
  const attempt = <T>(step: () => T): T => {
    try {
      return step();
    } catch (err) {
      throw outFileError(err, shown);
    }
  };
  const opened = (): PrivateFileWriter => (file ??= attempt(() => createPrivateFile(path, { overwrite: force })));
  return {
    write: (data) => attempt(() => opened().write(data)),
    commit: () => attempt(() => opened().commit()),
    abort: () => file?.abort(),
  };
}
