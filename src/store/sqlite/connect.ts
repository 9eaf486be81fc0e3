import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, restrictFile } from '../../_utils/fs.js';
import { CreddyError } from '../../errors.js';
import { MIGRATIONS } from './migrations.js';

/**
 * How long a statement waits for another process's write lock. better-sqlite3 blocks the event
 * loop while it waits, so this stays short: a stuck lock turns into a fast 503, not a hung server.
 */
export const BUSY_TIMEOUT_MS = 1000;

/**
 * Opens (creating if needed) the SQLite database: data dir 0700, files 0600 regardless of umask,
 * WAL for concurrent readers, synchronous=FULL so an acknowledged audit row survives power loss,
 * and migrations applied under an immediate transaction so two processes never migrate twice.
 */
export function openSqlite(path: string, options: { durable: boolean } = { durable: true }): Database.Database {
  if (path !== ':memory:') ensurePrivateDir(dirname(path));
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new CreddyError('ERR_NOT_READY', `cannot open database ${path}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.durable ? 'FULL' : 'OFF'}`);
  db.pragma('foreign_keys = ON');
  migrate(db);
  if (path !== ':memory:') for (const suffix of ['', '-wal', '-shm']) restrictFile(path + suffix);
  return db;
}

function migrate(db: Database.Database): void {
  const pending = () => MIGRATIONS.filter((m) => m.version > (db.pragma('user_version', { simple: true }) as number));
  if (pending().length === 0) return;
  db.transaction(() => {
    // Re-read inside the lock: another process may have migrated while we waited.
    for (const migration of pending()) {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
  }).immediate();
}
