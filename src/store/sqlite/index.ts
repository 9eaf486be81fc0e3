import type Database from 'better-sqlite3';
import type { Store } from '../port.js';
import { sqliteAgentKeys } from './agent-keys.js';
import { sqliteRevokeAgent } from './agent-revoke.js';
import { sqliteAgents } from './agents.js';
import { sqliteAudit } from './audit.js';
import { openSqlite } from './connect.js';
import { sqliteRevokeCredential } from './credential-revoke.js';
import { sqliteCredentials } from './credentials.js';
import { sqliteKeys } from './keys.js';
import { sqliteReplay } from './replay.js';
import { sqliteSecrets } from './secrets.js';
import { yieldingWrites } from './write-lock.js';

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
  // Writes on this connection wait for the lock without blocking the event loop (write-lock.ts).
  const yielding = yieldingWrites(db);
  const keys = sqliteKeys(db);
  const credentials = sqliteCredentials(db);
  const audit = sqliteAudit(db, { offThread: options.auditOffThread ?? true, durable: options.durable ?? true });
  const replay = sqliteReplay(db);
  const secrets = sqliteSecrets(db);
  return {
    agents: { ...sqliteAgents(db), revoke: yielding(sqliteRevokeAgent(db)) },
    agentKeys: sqliteAgentKeys(db),
    keys: { ...keys, apply: yielding(keys.apply) },
    credentials: {
      ...credentials,
      revoke: yielding(sqliteRevokeCredential(db)),
      claimDueForDownstreamRevocation: yielding(credentials.claimDueForDownstreamRevocation),
      replaceRevocationHandle: yielding(credentials.replaceRevocationHandle),
      markDownstreamRevoked: yielding(credentials.markDownstreamRevoked),
    },
    audit: {
      ...audit,
      // Off-thread appends wait in the audit worker (audit-worker.ts); inline ones (CLI) here.
      append: yielding(audit.append),
      checkpoint: yielding(audit.checkpoint),
      ensureSigningKey: yielding(audit.ensureSigningKey),
      resealSigningKey: yielding(audit.resealSigningKey),
      pruneBelow: yielding(audit.pruneBelow),
      recordPrunedStart: yielding(audit.recordPrunedStart),
    },
    replay: { ...replay, claim: yielding(replay.claim) },
    secrets: { ...secrets, write: yielding(secrets.write), erase: yielding(secrets.erase) },
    async ping() {
      ping.get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
