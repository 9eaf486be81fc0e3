import type { Store } from '../port.js';
import type { Db } from './db.js';

/** Keys are purged this long after they expire: replicas whose clocks differ cannot reopen one early. */
const PURGE_GRACE_SECONDS = 3600;
/** Rows purged per claim: expired keys go away at the rate new ones arrive, in bounded steps. */
const PURGE_BATCH = 16;

/**
 * `store.replay` on PostgreSQL: of concurrent claims of one key on any replicas, exactly one
 * INSERT succeeds (the primary key decides; ON CONFLICT makes the others a no-op, not an error).
 * Expiry is judged by the database's clock, one clock for every replica.
 *
 * One statement, so one round trip per client assertion or DPoP proof (a transaction around a
 * purge and an insert took four: BEGIN, DELETE, INSERT, COMMIT). PostgreSQL runs a data-modifying
 * WITH exactly once whether or not the INSERT reads it; the purge leaves the claimed key alone, so
 * the two never touch one row. It commits with the database's own `synchronous_commit`: where
 * that is off, a crash may lose the last claims, and an assertion claimed just before it could be
 * used once more within its lifetime (a minute). An issuance is safe all the same: it answers only
 * after its audit commit, which is synchronous and flushes the WAL up to it, this row included.
 */
export function postgresReplay(db: Db): Store['replay'] {
  return {
    async claim(key, expiresAt) {
      const inserted = await db.query(
        {
          name: 'replay-claim',
          text: `WITH purged AS (
                   DELETE FROM federation_replay WHERE key IN (
                     SELECT key FROM federation_replay WHERE expires_at < extract(epoch FROM now())::bigint - $1 AND key <> $3
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
                 INSERT INTO federation_replay (key, expires_at) VALUES ($3, $4) ON CONFLICT (key) DO NOTHING`,
        },
        [PURGE_GRACE_SECONDS, PURGE_BATCH, key, expiresAt],
      );
      return inserted.rowCount === 1;
    },
  };
}
