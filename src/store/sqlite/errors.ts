import { CreddyError } from '../../errors.js';

/**
 * Translates a better-sqlite3 error at the store boundary: a busy or locked database (another
 * process holds the write lock past busy_timeout) becomes ERR_STORE_BUSY, which callers retry;
 * anything else is returned as it is, for the caller's own handling.
 */
export function storeError(err: unknown): unknown {
  const code = err instanceof Error && 'code' in err ? String(err.code) : '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CreddyError('ERR_STORE_BUSY', 'the database is locked by another writer; try again', { cause: err });
  }
  return err;
}
