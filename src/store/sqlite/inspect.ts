import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { StoreStatus } from '../port.js';
import { MIGRATIONS } from './migrations.js';

/**
 * Looks at a SQLite store without changing it (no file, directory or migration is created): is
 * it there, can it be read, and which schema version does it have.
 */
export function inspectSqlite(path: string): StoreStatus {
  const latest = MIGRATIONS.at(-1)!.version;
  if (!existsSync(path)) return { exists: false, version: null, latest };
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.prepare('SELECT 1').get();
    return { exists: true, version: db.pragma('user_version', { simple: true }) as number, latest };
  } catch (err) {
    return { exists: true, version: null, latest, error: (err as Error).message };
  } finally {
    db?.close();
  }
}
