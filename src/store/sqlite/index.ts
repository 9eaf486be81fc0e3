import type Database from 'better-sqlite3';
import type { Store } from '../port.js';
import { sqliteAgentKeys } from './agent-keys.js';
import { sqliteAgents } from './agents.js';
import { sqliteAudit } from './audit.js';
import { openSqlite } from './connect.js';
import { sqliteCredentials } from './credentials.js';
import { sqliteKeys } from './keys.js';
import { sqliteReplay } from './replay.js';
import { sqliteSecrets } from './secrets.js';

/** How a store is used by its process. */
export interface SqliteStoreOptions {
  /**
   * Commit audit batches on a worker thread (default true): right for a server, whose event loop
   * must not block on fsync; a short-lived CLI writes one row at a time and would only pay the
   * worker's start-up (and risk it against the audit write timeout on a loaded machine).
   */
  readonly auditOffThread?: boolean;
  /**
   * fsync every commit (`synchronous=FULL`, the default). False only for benchmarks that measure
   * what durability costs (`CREDDY_AUDIT_SYNC=off`): an acknowledged row may then be lost.
   */
  readonly durable?: boolean;
}

/** The embedded default store: one SQLite file (WAL) that a server and CLIs share safely. */
export function createSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  return sqliteStoreFromDb(openSqlite(path, { durable: options.durable ?? true }), options);
}

/** A store over an already opened database (tests that set connection pragmas, e.g. max_page_count). */
export function sqliteStoreFromDb(db: Database.Database, options: SqliteStoreOptions = {}): Store {
  const ping = db.prepare('SELECT 1');
  return {
    agents: sqliteAgents(db),
    agentKeys: sqliteAgentKeys(db),
    keys: sqliteKeys(db),
    credentials: sqliteCredentials(db),
    audit: sqliteAudit(db, { offThread: options.auditOffThread ?? true, durable: options.durable ?? true }),
    replay: sqliteReplay(db),
    secrets: sqliteSecrets(db),
    async ping() {
      ping.get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
