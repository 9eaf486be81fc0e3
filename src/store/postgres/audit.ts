import type { AuditKeyUsage } from '../../model/audit.js';
import type { AuditFilter, Store } from '../port.js';
import { type AuditDbRow, toAuditRow } from '../rows.js';
import { appendInTx } from './audit-append.js';
import { postgresAuditCheckpoints } from './audit-checkpoints.js';
import type { Db } from './db.js';

export function postgresAudit(db: Db, options: { durable: boolean }): Store['audit'] {
  return {
    ...postgresAuditCheckpoints(db),
    async append(entries, seal) {
      // One transaction per batch: the writer's group commit costs one WAL flush for all of it.
      return db.transaction((tx) => appendInTx(tx, entries, seal), { durable: options.durable });
    },
    async keyUsage() {
      return (await db.query<AuditKeyUsage>({ text: KEY_USAGE, long: true })).rows;
    },
    async query(filter) {
      const { text, values } = buildQuery(filter);
      return (await db.query<AuditDbRow>(text, values)).rows.map(toAuditRow);
    },
  };
}

const KEY_USAGE =
  'SELECT key_id AS "keyId", MIN(seq) AS "firstSeq", MAX(seq) AS "lastSeq", COUNT(*) AS rows FROM audit_events GROUP BY key_id ORDER BY 2';

/** Builds the filtered SELECT; every filter column has an index (schema-v1.ts). */
function buildQuery(filter: AuditFilter): { text: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, op: string, value: unknown): void => {
    values.push(value);
    where.push(`${column} ${op} $${values.length}`);
  };
  if (filter.backend !== undefined) add('backend', '=', filter.backend);
  if (filter.agent !== undefined) add('agent', '=', filter.agent);
  if (filter.type !== undefined) add('type', '=', filter.type);
  if (filter.jti !== undefined) add('jti', '=', filter.jti);
  if (filter.outcome !== undefined) add('outcome', '=', filter.outcome);
  if (filter.since !== undefined) add('time', '>=', filter.since);
  if (filter.until !== undefined) add('time', '<=', filter.until);
  if (filter.afterSeq !== undefined) add('seq', '>', filter.afterSeq);
  // The exact expressions of schema-v3's partial indexes, so the planner uses them.
  if (filter.rule !== undefined) add("((details::jsonb) -> 'federation' ->> 'rule')", '=', filter.rule);
  if (filter.runId !== undefined) add("((details::jsonb) -> 'federation' ->> 'run_id')", '=', filter.runId);
  const order = filter.order === 'asc' ? 'ASC' : 'DESC';
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  values.push(filter.limit);
  return { text: `SELECT * FROM audit_events ${clause} ORDER BY seq ${order} LIMIT $${values.length}`, values };
}
