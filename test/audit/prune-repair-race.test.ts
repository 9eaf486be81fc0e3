/**
 * Retention's repair of a log that starts at a checkpoint no audit.pruned row names (an earlier
 * version's prune stopped before its record) is decided on reads made outside the audit chain's
 * lock. A second pruner (another replica's timer, `creddy audit prune`) can record that start in
 * between; the first must then not record it again — a second record claiming the start was
 * found unrecorded, which by then was false. The store decides again under the lock. Both stores.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneAudit } from '../../src/audit/retention.js';
import type { Store } from '../../src/store/port.js';
import { fillLog, retentionConfig, servicesAt, verifyLog } from '../helpers/audit-log.js';
import { tempDir, testEnv } from '../helpers/harness.js';
import { adminQuery, type FreshDatabase, migratedDatabase } from '../helpers/pg.js';

const DAY = 86_400_000;
const RETENTION_S = 365 * 86_400;

describe.each(['sqlite', 'postgres'] as const)('an empty-plan prune repair races another pruner (%s)', (engine) => {
  const tmp = tempDir();
  const env = testEnv();
  let db: FreshDatabase | undefined;
  let configPath: string;
  let start: number;

  /** As an earlier version left the log: cut below `anchor` (a checkpointed row), with no audit.pruned row. */
  const cutUnrecorded = async (anchor: number): Promise<void> => {
    if (db) {
      // The superuser, as that version's retention function did it: triggers off for the session.
      await adminQuery(
        `SET session_replication_role = replica;
         DELETE FROM audit_events WHERE seq < ${anchor};
         DELETE FROM audit_checkpoints WHERE seq < ${anchor};`,
        [],
        db.name,
      );
      return;
    }
    const conn = new Database(join(tmp.dir, 'data', 'creddy.db'));
    try {
      conn.transaction(() => {
        conn.prepare('UPDATE audit_prune_gate SET below_seq = ? WHERE id = 1').run(anchor);
        conn.prepare('DELETE FROM audit_events WHERE seq < ?').run(anchor);
        conn.prepare('DELETE FROM audit_checkpoints WHERE seq < ?').run(anchor);
        conn.prepare('UPDATE audit_prune_gate SET below_seq = 0 WHERE id = 1').run();
      })();
    } finally {
      conn.close();
    }
  };

  beforeAll(async () => {
    db = engine === 'postgres' ? await migratedDatabase() : undefined;
    // As `creddy store migrate` with audit.retention 365d would set it.
    if (db) await adminQuery('UPDATE audit_retention_floor SET min_age_seconds = $1', [RETENTION_S], db.name);
    configPath = retentionConfig(tmp.dir, '365d', db ? `store: ${db.url}\n` : '');
    // Two checkpointed batches past the retention, then rows inside it; the log then starts, unrecorded,
    // at the newest old checkpoint, so a prune has no step to make (an empty plan) and repairs.
    await fillLog(configPath, env, Date.now() - 400 * DAY, 2000);
    await fillLog(configPath, env, Date.now() - DAY, 20);
    const services = await servicesAt(configPath, env, Date.now());
    try {
      // The newest checkpoint signed in the old batches (they sign with the batch's clock).
      const old = (await services.store.audit.checkpoints()).filter((c) => c.time < Date.now() - 300 * DAY);
      start = old.at(-1)!.seq;
    } finally {
      await services.close();
    }
    await cutUnrecorded(start);
  });
  afterAll(async () => {
    await db?.drop();
    tmp.cleanup();
  });

  it('the repair is recorded once, by whichever pruner gets the lock first', async () => {
    const services = await servicesAt(configPath, env, Date.now());
    try {
      const deps = { keks: services.keks, seal: services.auditSeal, now: () => Date.now(), actor: 'cli' };
      let other: Awaited<ReturnType<typeof pruneAudit>> | undefined;
      // The first pruner's reads: right after it looked for a record of the start (none yet), a
      // second pruner runs to the end on the same store and records it.
      const racing: Store = {
        ...services.store,
        audit: {
          ...services.store.audit,
          query: async (filter) => {
            const rows = await services.store.audit.query(filter);
            if (filter.type === 'audit.pruned' && other === undefined)
              other = await pruneAudit({ ...deps, store: services.store }, RETENTION_S);
            return rows;
          },
        },
      };
      const first = await pruneAudit({ ...deps, store: racing }, RETENTION_S);
      expect(other).toEqual({ deleted: 0, anchorSeq: start, steps: 0, unrecordedStart: start });
      expect(first).toEqual({ deleted: 0, anchorSeq: undefined, steps: 0 });

      const records = await services.store.audit.query({ type: 'audit.pruned', order: 'asc', limit: 10 });
      expect(records.map((r) => r.details)).toEqual([
        { deleted: 0, anchor_seq: start, unrecorded_start: start, retention_seconds: RETENTION_S },
      ]);
    } finally {
      await services.close();
    }
    const verified = await verifyLog(configPath, env);
    expect(verified.code, JSON.stringify(verified.report.problem)).toBe(0);
    expect(verified.report.first_seq).toBe(start);
  });
});
