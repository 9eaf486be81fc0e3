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
 */
export function postgresReplay(db: Db): Store['replay'] {
  return {
    async claim(key, expiresAt) {
      return db.transaction(async (tx) => {
        await tx.query(
          {
            name: 'replay-purge',
            text: `DELETE FROM federation_replay WHERE key IN (
                     SELECT key FROM federation_replay WHERE expires_at < extract(epoch FROM now())::bigint - $1
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          },
          [PURGE_GRACE_SECONDS, PURGE_BATCH],
        );
        const inserted = await tx.query(
          { name: 'replay-claim', text: 'INSERT INTO federation_replay (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING' },
          [key, expiresAt],
        );
        return inserted.rowCount === 1;
      });
    },
  };
}
