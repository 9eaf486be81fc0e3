import { CreddyError } from '../../errors.js';
import type { Store } from '../port.js';
import { postgresAgentKeys } from './agent-keys.js';
import { postgresAgents } from './agents.js';
import { postgresAudit } from './audit.js';
import { createPool, type PostgresTarget, SILENT_AFTER_MS } from './connect.js';
import { postgresCredentials } from './credentials.js';
import { createDb, LOCK_CLASS, LOCKS } from './db.js';
import { postgresKeys } from './keys.js';
import { createKeyListener } from './listen.js';
import { checkSchema } from './migrations.js';
import { postgresReplay } from './replay.js';
import { postgresSecrets } from './secrets.js';

export type { PostgresTarget } from './connect.js';

/** How a process uses the store. */
export interface PostgresStoreOptions {
  /**
   * Commit audit batches with `synchronous_commit` on (the default). False only for benchmarks
   * that measure what durability costs (`CREDDY_AUDIT_SYNC=off`).
   */
  readonly durable?: boolean;
  /**
   * The client's deadline on each statement, in ms (see `PoolOptions.deadlineMs`): a server
   * passes `audit.write_timeout`, the longest a request waits for the store. Default: just past
   * the server's statement_timeout, so only a connection gone silent reaches it (operator commands).
   */
  readonly deadlineMs?: number;
}

/**
 * The store for replicas: one PostgreSQL database that every `creddy server` shares. Opening is
 * lazy; the first call checks the schema version and fails with ERR_NOT_READY (naming `creddy
 * store migrate`) unless it is exactly this build's. Coordination is PostgreSQL's own:
 * transactions, an advisory lock on the audit chain, row locks, LISTEN/NOTIFY for key changes.
 */
export function createPostgresStore(target: PostgresTarget, options: PostgresStoreOptions = {}): Store {
  const pool = createPool(target, { deadlineMs: options.deadlineMs ?? SILENT_AFTER_MS });
  const db = createDb(pool, () => checkSchema(pool, target.display));
  const listen = createKeyListener(target);
  const unsubscribers = new Set<() => Promise<void>>();
  return {
    agents: postgresAgents(db),
    agentKeys: postgresAgentKeys(db),
    keys: postgresKeys(db, {
      watch(onChange) {
        const unsubscribe = listen(onChange);
        unsubscribers.add(unsubscribe);
        return async () => {
          unsubscribers.delete(unsubscribe);
          await unsubscribe();
        };
      },
    }),
    credentials: postgresCredentials(db),
    replay: postgresReplay(db),
    secrets: postgresSecrets(db),
    audit: postgresAudit(db, { durable: options.durable ?? true }),
    async ping() {
      // A connection that answers is not enough: a fresh one answers while appends cannot commit
      // (the chain's lock held by a session that went silent, a standby behind the address after
      // a failover). So take what an append takes, within the same deadline, and commit nothing.
      const readOnly = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ read_only: string }>(
          { name: 'ping', text: "SELECT current_setting('transaction_read_only') AS read_only FROM pg_advisory_xact_lock($1, $2)" },
          [LOCK_CLASS, LOCKS.audit],
        );
        return rows[0]?.read_only === 'on';
      });
      if (readOnly) throw new CreddyError('ERR_NOT_READY', `${target.display} accepts no writes (transaction_read_only is on: a standby?)`);
    },
    async close() {
      await Promise.all([...unsubscribers].map((u) => u()));
      unsubscribers.clear();
      await db.end().catch(() => {});
    },
  };
}
