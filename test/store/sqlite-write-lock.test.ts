/**
 * Writes on a SQLite store's main connection while another process holds the write lock: the
 * event loop keeps running while they wait, they complete once the lock is free, and they give
 * up with ERR_STORE_BUSY (not a raw driver error) if it never is. The give-up waits its 5 s on
 * fake time.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isCreddyError } from '../../src/errors.js';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { onFakeTime, tempDir, useFakeTimers } from '../helpers/harness.js';

describe('SQLite writes waiting for another process', () => {
  const { dir, cleanup } = tempDir();
  let store: Store;
  let other: Database.Database;
  beforeAll(() => {
    store = createSqliteStore(join(dir, 'creddy.db'), { auditOffThread: false });
    other = new Database(join(dir, 'creddy.db'));
  });
  afterAll(async () => {
    other.close();
    await store.close();
    cleanup();
  });

  it('wait without blocking the event loop, then complete', async () => {
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      let settled = false;
      const write = store.credentials.markDownstreamRevoked('no-such-jti', 1).finally(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      // Still waiting, and timers ran meanwhile: a write sleeping inside SQLite (busy_timeout)
      // would have held the event loop for the whole timeout, then failed.
      expect(settled).toBe(false);
      expect(ticks).toBeGreaterThanOrEqual(3);
      other.exec('COMMIT');
      await write;
    } finally {
      clearInterval(ticker);
      if (other.inTransaction) other.exec('ROLLBACK');
    }
  });

  it('give up with ERR_STORE_BUSY when the lock is never released', async () => {
    other.exec('BEGIN IMMEDIATE');
    // The deadline (performance.now) and the pauses between attempts (setTimeout).
    await useFakeTimers(['setTimeout', 'clearTimeout', 'performance']);
    try {
      const started = performance.now();
      const err = await onFakeTime(
        store.credentials.markDownstreamRevoked('no-such-jti', 1).catch((e: unknown) => e),
        100,
      );
      expect(isCreddyError(err, 'ERR_STORE_BUSY')).toBe(true);
      // It kept trying for its whole wait first.
      expect(performance.now() - started).toBeGreaterThanOrEqual(5_000);
    } finally {
      vi.useRealTimers();
      other.exec('ROLLBACK');
    }
  });
});
