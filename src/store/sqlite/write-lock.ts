import type Database from 'better-sqlite3';
import { isCreddyError } from '../../errors.js';
import { BUSY_TIMEOUT_MS } from './connect.js';
import { storeError } from './errors.js';

/** How long a write on the main connection keeps trying for the write lock. */
const WRITE_WAIT_MS = 5_000;
/** Longest pause between two attempts. */
const MAX_PAUSE_MS = 8;

const isBusy = (err: unknown): boolean =>
  isCreddyError(err, 'ERR_STORE_BUSY') || String((err as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_BUSY');

/**
 * Wraps a store method that writes on the main connection so that waiting for the write lock
 * never blocks the event loop. better-sqlite3 is synchronous: with busy_timeout, a write that
 * finds another process writing sleeps inside SQLite, and the whole process with it — up to the
 * full timeout, and then fails, when several processes append back to back (`--workers`). Here
 * each attempt runs with busy_timeout 0, and a busy one is retried after a short timer (1–8 ms,
 * jittered), for up to WRITE_WAIT_MS; requests are served meanwhile.
 *
 * The methods run their SQL synchronously when called (they are `async` only for the port), so
 * the timeout is 0 exactly for their statements and restored before anything else runs.
 */
export function yieldingWrites(db: Database.Database) {
  return <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const deadline = performance.now() + WRITE_WAIT_MS;
      for (let attempt = 0; ; attempt++) {
        let result: Promise<R>;
        db.pragma('busy_timeout = 0');
        try {
          result = method(...args);
        } finally {
          db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        }
        try {
          return await result;
        } catch (err) {
          if (!isBusy(err) || performance.now() > deadline) throw storeError(err);
        }
        const pause = Math.min(2 ** attempt, MAX_PAUSE_MS) * (0.5 + Math.random());
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    };
}
