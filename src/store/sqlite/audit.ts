import type Database from 'better-sqlite3';
import type { AuditKeyUsage } from '../../model/audit.js';
import type { AuditFilter, Store } from '../port.js';
import { type AuditDbRow, toAuditRow } from '../rows.js';
import { createAppendTransaction } from './audit-append.js';
import { sqliteAuditCheckpoints } from './audit-checkpoints.js';
import { createAuditWorker } from './audit-worker-client.js';

export function sqliteAudit(db: Database.Database, options: { offThread: boolean; durable: boolean }): Store['audit'] {
  const appendAll = createAppendTransaction(db);
  const offThread = options.offThread ? createAuditWorker(db, options.durable) : undefined;
  // The worker's connection commits every batch and so runs SQLite's WAL checkpoints (copying
  // the WAL into the database, two fsyncs): this connection, on the event loop, never does.
  if (offThread) db.pragma('wal_autocheckpoint = 0');

  const checkpointMethods = sqliteAuditCheckpoints(db, offThread);
  return {
    ...checkpointMethods,
    async append(entries, seal) {
      // From the built code, commits run on a worker thread so fsync never blocks the event loop
      // (requests keep arriving and form the next batch meanwhile); from TS sources, inline.
      if (seal.portable && offThread) return offThread.append(entries, seal.portable);
      return appendAll.immediate(entries, seal);
    },
    async keyUsage() {
      return db.prepare<[], AuditKeyUsage>(KEY_USAGE).all();
    },
    async query(filter) {
      const { sql, params } = buildQuery(filter);
      return db
        .prepare<unknown[], AuditDbRow>(sql)
        .all(...params)
        .map(toAuditRow);
    },
  };
}

const KEY_USAGE =
  'SELECT key_id AS keyId, MIN(seq) AS firstSeq, MAX(seq) AS lastSeq, COUNT(*) AS rows FROM audit_events GROUP BY key_id ORDER BY firstSeq';

/** Builds the filtered SELECT; every filter column has an index (see migrations). */
function buildQuery(filter: AuditFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown): void => {
    where.push(clause);
    params.push(value);
  };
  if (filter.backend !== undefined) add('backend = ?', filter.backend);
  if (filter.agent !== undefined) add('agent = ?', filter.agent);
  if (filter.type !== undefined) add('type = ?', filter.type);
  if (filter.jti !== undefined) add('jti = ?', filter.jti);
  if (filter.outcome !== undefined) add('outcome = ?', filter.outcome);
  // The exact expressions of the audit_federation_* indexes (migration 3).
  if (filter.rule !== undefined) add("json_extract(details, '$.federation.rule') = ?", filter.rule);
  if (filter.runId !== undefined) add("json_extract(details, '$.federation.run_id') = ?", filter.runId);
  if (filter.since !== undefined) add('time >= ?', filter.since);
  if (filter.until !== undefined) add('time <= ?', filter.until);
  if (filter.afterSeq !== undefined) add('seq > ?', filter.afterSeq);
  const order = filter.order === 'asc' ? 'ASC' : 'DESC';
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  params.push(filter.limit);
  return { sql: `SELECT * FROM audit_events ${clause} ORDER BY seq ${order} LIMIT ?`, params };
}
