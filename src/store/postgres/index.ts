import { CreddyError } from '../../errors.js';
import type { Store } from '../port.js';
import { postgresAgentKeys } from './agent-keys.js';
import { postgresRevokeAgent } from './agent-revoke.js';
import { postgresAgents } from './agents.js';
import { postgresAudit } from './audit.js';
import { createPool, type PostgresTarget, SILENT_AFTER_MS } from './connect.js';
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
  const deadlineMs = options.deadlineMs ?? SILENT_AFTER_MS;
  const pool = createPool(target, { deadlineMs });
  // A COMMIT that is merely slow (an fsync, a synchronous standby) still commits on the server.
  // Cut at the statement deadline, its connection would be closed and that outcome never heard;
  // heard, the audit writer compensates the rows its callers were refused (503 at write_timeout,
  // the batch abandoned at twice that). So COMMIT alone waits three times the deadline: only a
  // COMMIT unanswered past that is the ambiguity docs/deploy.md names.
  const db = createDb(pool, () => checkSchema(pool, target.display), { commitDeadlineMs: Math.min(SILENT_AFTER_MS, 3 * deadlineMs) });
  const listen = createKeyListener(target);
  const unsubscribers = new Set<() => Promise<void>>();
  return {
    agents: { ...postgresAgents(db), revoke: postgresRevokeAgent(db) },
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
      // A connection that answers is not enough: after a failover a standby behind the address
      // answers every read and refuses every write, so ask whether a transaction may write.
      // The audit chain's lock is not taken: it is the same lock for every replica, so a session
      // holding it (an operator's prune step, a client gone silent: ended after write_timeout)
      // would take all of them out of the load balancer at once, and the JWKS, the deny-list and
      // introspection with them, for contention that waiting appends ride out.
      const readOnly = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ read_only: string }>({
          name: 'ping',
          text: "SELECT current_setting('transaction_read_only') AS read_only",
        });
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
