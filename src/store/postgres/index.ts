import type { Store } from '../port.js';
import { postgresAgentKeys } from './agent-keys.js';
import { postgresAgents } from './agents.js';
import { postgresAudit } from './audit.js';
import { createPool, type PostgresTarget } from './connect.js';
import { postgresCredentials } from './credentials.js';
import { createDb } from './db.js';
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
}

/**
 * The store for replicas: one PostgreSQL database that every `creddy server` shares. Opening is
 * lazy; the first call checks the schema version and fails with ERR_NOT_READY (naming `creddy
 * store migrate`) unless it is exactly this build's. Coordination is PostgreSQL's own:
 * transactions, an advisory lock on the audit chain, row locks, LISTEN/NOTIFY for key changes.
 */
export function createPostgresStore(target: PostgresTarget, options: PostgresStoreOptions = {}): Store {
  const pool = createPool(target);
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
      await db.query({ name: 'ping', text: 'SELECT 1' });
    },
    async close() {
      await Promise.all([...unsubscribers].map((u) => u()));
      unsubscribers.clear();
      await db.end().catch(() => {});
    },
  };
}
