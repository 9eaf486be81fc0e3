import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

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

/**
 * Writes a file readable only by its owner (0600, whatever the umask), whole or not at all: the
 * data goes to a new temporary file beside `path`, is flushed to disk, and only then takes the
 * name, so a reader or a crash never meets half a file. An existing `path` is refused (EEXIST)
 * unless `overwrite`, and even then the name is replaced, not the file behind it: a symlink at
 * `path` is never followed (the old `writeFileSync` truncated an old file in place, and wrote and
 * chmodded wherever a planted symlink pointed).
 */
export function writePrivateFile(path: string, data: string | Uint8Array, options: { overwrite?: boolean } = {}): void {
  // Dot-prefixed and `.tmp`: a crash's leftover is recognisable (the credential cache sweeps them).
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' is O_CREAT|O_EXCL: it refuses an existing name, a symlink included.
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.overwrite) renameSync(temp, path);
    else placeNew(temp, path);
    syncDir(dirname(path));
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Gives `temp`'s file the name `path` unless that name exists (EEXIST): rename would replace it. */
function placeNew(temp: string, path: string): void {
  try {
    // link(2) fails on an existing name and does not follow a symlink there; the name appears
    // with the whole file behind it.
    linkSync(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A file system without hard links (FAT, some network and FUSE mounts): an exclusive copy
    // (O_EXCL, so still no symlink followed and nothing overwritten), visible while it is written.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    copyFileSync(temp, path, constants.COPYFILE_EXCL);
  }
}

/** Makes a new name in `dir` durable; best effort (not every platform can fsync a directory). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // The file itself is on disk; only its name could be lost to a crash.
  }
}

/** Forces 0600 on a file if it exists (SQLite creates -wal/-shm with the umask's mode). */
export function restrictFile(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
}

/** A private file being written a piece at a time (createPrivateFile). */
export interface PrivateFileWriter {
  write(data: Uint8Array): void;
  /** Flushes the file and gives it its name, as writePrivateFile does; the writer is done. */
  commit(): void;
  /** Removes what was written; the name was never touched. */
  abort(): void;
}

/**
 * writePrivateFile for data that comes a piece at a time (an audit export of any size): the same
 * new temporary file beside `path`, written as the pieces come, then named on `commit` with the
 * same guarantees — whole or not at all, an existing `path` refused (EEXIST) unless `overwrite`,
 * a symlink there never followed.
 */
export function createPrivateFile(path: string, options: { overwrite?: boolean } = {}): PrivateFileWriter {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  let open = true;
  const close = (): void => {
    if (open) closeSync(fd);
    open = false;
  };
  const discard = (): void => {
    close();
    rmSync(temp, { force: true });
  };
  try {
    fchmodSync(fd, 0o600);
  } catch (err) {
    discard();
    throw err;
  }
  return {
    // On a descriptor, writeFileSync writes at the current position: the pieces follow each other.
    write: (data) => writeFileSync(fd, data),
    commit() {
      try {
        fsyncSync(fd);
        close();
        if (options.overwrite) renameSync(temp, path);
        else placeNew(temp, path);
        syncDir(dirname(path));
      } finally {
        discard();
      }
    },
    abort: discard,
  };
}
