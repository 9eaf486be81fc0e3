import type Database from 'better-sqlite3';
import type { Store } from '../port.js';

/** Keys are purged this long after they expire: replicas whose clocks differ cannot reopen one early. */
const PURGE_GRACE_SECONDS = 3600;
/** Rows purged per claim: expired keys go away at the rate new ones arrive, in bounded steps. */
const PURGE_BATCH = 16;

/**
 * `store.replay` on SQLite: a primary-key insert decides the race (the database serialises
 * writers, so of two processes claiming one key exactly one inserts), and each claim purges a
 * few long-expired keys so the table stays as small as the set of live ID tokens.
 */
export function sqliteReplay(db: Database.Database): Store['replay'] {
  const insert = db.prepare<[string, number]>('INSERT INTO federation_replay (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
  const purge = db.prepare<[number, number]>(
    'DELETE FROM federation_replay WHERE key IN (SELECT key FROM federation_replay WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
  );
  const claim = db.transaction((key: string, expiresAt: number, now: number): boolean => {
    purge.run(now - PURGE_GRACE_SECONDS, PURGE_BATCH);
    return insert.run(key, expiresAt).changes === 1;
  });
  return {
    async claim(key, expiresAt) {
      return claim.immediate(key, expiresAt, Math.floor(Date.now() / 1000));
    },
  };
}
