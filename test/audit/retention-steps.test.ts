/**
 * Retention deletes in steps of at most 10,000 rows, and each step commits with its own
 * audit.pruned row: a prune stopped between steps (killed, Ctrl-C, or an audit write refused)
 * leaves a log that verifies, and the next run finishes the work. It once wrote its one record
 * after all steps, so a stop in between left a log `audit verify` called tampered, and a re-run
 * with nothing left to delete never repaired it. SQLite here; PostgreSQL in
 * test/store/postgres-retention-steps.test.ts.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadAuditKeys } from '../../src/audit/key.js';
import { pruneAudit } from '../../src/audit/retention.js';
import { verifyStore } from '../../src/audit/verify-store.js';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { fillLog, retentionConfig, servicesAt, stepEnds, verifyLog } from '../helpers/audit-log.js';
import { runCli, runCrashCli } from '../helpers/cli.js';
import { tempDir, testEnv } from '../helpers/harness.js';

const DAY = 86_400_000;
const OLD_ROWS = 25_000;

describe('audit prune in steps (SQLite)', () => {
  const template = tempDir();
  let tmp: ReturnType<typeof tempDir>;
  let configPath: string;
  let dbPath: string;
  const env = testEnv();

  beforeAll(async () => {
    // 25,000 rows past retention with a checkpoint every 1000 (three steps: ≤ 10,000 rows each),
    // then a few inside it; written once, each test prunes its own copy.
    const config = retentionConfig(template.dir, '365d');
    await fillLog(config, env, Date.now() - 400 * DAY, OLD_ROWS);
    await fillLog(config, env, Date.now() - DAY, 20);
  });
  afterAll(() => template.cleanup());
  beforeEach(() => {
    tmp = tempDir();
    configPath = retentionConfig(tmp.dir, '365d');
    cpSync(join(template.dir, 'data'), join(tmp.dir, 'data'), { recursive: true });
    dbPath = join(tmp.dir, 'data', 'creddy.db');
  });
  afterEach(() => tmp.cleanup());

  /**
   * Where the three steps end: each at the furthest of the old rows' checkpoints at most 10,000
   * rows on from the last (the log starts at seq 1), the last at the newest old one.
   */
  const anchors = async (): Promise<[number, number, number]> => {
    const db = new Database(dbPath, { readonly: true });
    try {
      const old = db
        .prepare<[], number>('SELECT seq FROM audit_checkpoints ORDER BY seq')
        .pluck()
        .all()
        .slice(0, OLD_ROWS / 1000);
      const ends = stepEnds(old);
      expect(ends).toHaveLength(3);
      return [ends[0]!, ends[1]!, ends[2]!];
    } finally {
      db.close();
    }
  };

  it('an audit write refused between steps: the committed steps verify, and a re-run finishes with progress on stderr', async () => {
    const [first, second, last] = await anchors();
    // The store refuses audit.pruned rows once the log has been pruned past the first anchor (a
    // full disk, an I/O error), so the second step's record fails.
    const db = new Database(dbPath);
    db.exec(`CREATE TRIGGER test_refuse_record BEFORE INSERT ON audit_events
      WHEN NEW.type = 'audit.pruned' AND (SELECT min(seq) FROM audit_events) > ${first}
      BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const failed = await runCli(['audit', 'prune', '--config', configPath], env);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('ERR_AUDIT_UNAVAILABLE');

    const after = await verifyLog(configPath, env);
    expect(after.report.problem).toBeNull();
    expect(after.code).toBe(0);
    expect(after.report.first_seq).toBe(first);
    expect(failed.stderr).toContain(`audit prune: step 1 of 3: ${first - 1} events deleted (seq 1-${first - 1})`);

    db.exec('DROP TRIGGER test_refuse_record');
    db.close();
    const rerun = await runCli(['audit', 'prune', '--config', configPath], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr.trim().split('\n')).toEqual([
      `audit prune: step 1 of 2: ${second - first} events deleted (seq ${first}-${second - 1}), ${second - first} so far; the log starts at seq ${second}`,
      `audit prune: step 2 of 2: ${last - second} events deleted (seq ${second}-${last - 1}), ${last - first} so far; the log starts at seq ${last}`,
    ]);
    expect(rerun.stdout).toBe(`pruned ${last - first} events in 2 steps; the log now starts at checkpoint seq ${last}\n`);
    const done = await verifyLog(configPath, env);
    expect(done.code, JSON.stringify(done.report.problem)).toBe(0);
    expect(done.report.first_seq).toBe(last);
  });

  it('a process killed between steps (SIGKILL) leaves a log that verifies; the re-run completes', async () => {
    const [first, , last] = await anchors();
    const killed = await runCrashCli(['audit', 'prune', '--config', configPath], env, { crashAt: 'prune:step-1' });
    expect(killed.code, killed.stderr).toBeNull();
    const after = await verifyLog(configPath, env);
    expect(after.report.problem).toBeNull();
    expect(after.report.first_seq).toBe(first);

    const rerun = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual({ deleted: last - first, anchor_seq: last, steps: 2 });
    const done = await verifyLog(configPath, env);
    expect(done.code, JSON.stringify(done.report.problem)).toBe(0);
    expect(done.report.first_seq).toBe(last);
  });

  it('a multi-step prune verifies at every step boundary, each step recorded with what it removed', async () => {
    const expected = await anchors();
    const services = await servicesAt(configPath, env, Date.now());
    const boundaries: Array<{ anchor: number; first: number }> = [];
    const told: number[] = [];
    // Right after each step returns, a verify by another process (its own connection) sees the log.
    const { audit } = services.store;
    const store: Store = {
      ...services.store,
      audit: {
        ...audit,
        async pruneBelow(...args) {
          const deleted = await audit.pruneBelow(...args);
          const { code, report } = await verifyLog(configPath, env);
          expect(report.problem, `after the step to seq ${args[0]}`).toBeNull();
          expect(code).toBe(0);
          boundaries.push({ anchor: args[0], first: report.first_seq });
          return deleted;
        },
      },
    };
    try {
      const result = await pruneAudit(
        {
          store,
          keks: services.keks,
          seal: services.auditSeal,
          now: () => Date.now(),
          actor: 'cli',
          onStep: ({ anchorSeq }) => void told.push(anchorSeq),
        },
        365 * 86_400,
      );
      expect(result).toMatchObject({ steps: 3, anchorSeq: expected[2] });
      const records = await services.store.audit.query({ type: 'audit.pruned', order: 'asc', limit: 10 });
      expect(records.map((r) => r.details)).toEqual(
        [1, ...expected.slice(0, 2)].map((from, i) => ({
          deleted: expected[i]! - from,
          from_seq: from,
          to_seq: expected[i]! - 1,
          anchor_seq: expected[i],
          retention_seconds: 365 * 86_400,
        })),
      );
    } finally {
      await services.close();
    }
    expect(boundaries).toEqual(expected.map((anchor) => ({ anchor, first: anchor })));
    expect(told).toEqual(expected);
  });

  /** As an earlier version left the log when stopped before its one record: cut at `anchor` through the gate, unrecorded. */
  const cutUnrecorded = (anchor: number): void => {
    const db = new Database(dbPath);
    try {
      db.transaction(() => {
        db.prepare('UPDATE audit_prune_gate SET below_seq = ? WHERE id = 1').run(anchor);
        db.prepare('DELETE FROM audit_events WHERE seq < ?').run(anchor);
        db.prepare('DELETE FROM audit_checkpoints WHERE seq < ?').run(anchor);
        db.prepare('UPDATE audit_prune_gate SET below_seq = 0 WHERE id = 1').run();
      })();
    } finally {
      db.close();
    }
  };

  it('a log an earlier version left without its record (killed after the last step) is recorded by the next prune, and verifies', async () => {
    const last = (await anchors())[2]!;
    cutUnrecorded(last);
    const broken = await verifyLog(configPath, env);
    expect(broken.code).toBe(1);
    expect(broken.report.problem).toMatchObject({ seq: 1, kind: 'missing' });

    const rerun = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual({ deleted: 0, anchor_seq: last, steps: 0, unrecorded_start: last });
    expect(rerun.stderr).toContain(`warning: the audit log started at seq ${last}: rows below it were removed without an audit.pruned row`);
    const done = await verifyLog(configPath, env);
    expect(done.code, JSON.stringify(done.report.problem)).toBe(0);
    expect(done.report.first_seq).toBe(last);
  });

  it('a cut that retention would not make (its first row is younger than the retention) is not recorded: verify still reports it', async () => {
    const db = new Database(dbPath, { readonly: true });
    const young = db.prepare<[], number>('SELECT max(seq) FROM audit_checkpoints').pluck().get()!;
    db.close();
    cutUnrecorded(young);
    const rerun = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual({
      deleted: 0,
      anchor_seq: null,
      steps: 0,
      unrecorded_start: young,
      idle: { reason: 'within-retention' },
    });
    expect(rerun.stderr).toContain('audit verify reports it');
    const still = await verifyLog(configPath, env);
    expect(still.code).toBe(1);
    expect(still.report.problem).toMatchObject({ seq: 1, kind: 'missing', detail: expect.stringContaining('no audit.pruned event') });
  });

  it('step records explain only the starts they name: a later cut at a checkpoint is still missing', async () => {
    const last = (await anchors())[2];
    const pruned = await runCli(['audit', 'prune', '--config', configPath], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    const db = new Database(dbPath, { readonly: true });
    const later = db.prepare<[], number>('SELECT max(seq) FROM audit_checkpoints').pluck().get()!;
    db.close();
    expect(later).toBeGreaterThan(last);
    cutUnrecorded(later);
    const cut = await verifyLog(configPath, env);
    expect(cut.code).toBe(1);
    expect(cut.report.problem).toEqual({
      seq: 1,
      kind: 'missing',
      detail: `seq 1-${later - 1} missing: no audit.pruned event records their removal (the latest audit.pruned event left the log starting at seq ${last})`,
    });
  });

  it('a verify that a prune step overtakes mid-walk walks again from the new start, rather than reporting a gap', async () => {
    const last = (await anchors())[2];
    const store = createSqliteStore(dbPath, { auditOffThread: false });
    try {
      let pruned = false;
      // The verifier's reads, with a whole prune committing (`creddy audit prune`, on its own
      // connection) right after its second page: the rows it would read next are gone.
      const reads = { ...store, audit: { ...store.audit } };
      let pages = 0;
      reads.audit.query = async (filter) => {
        const rows = await store.audit.query(filter);
        if (filter.afterSeq !== undefined && filter.afterSeq > 0 && ++pages === 2 && !pruned) {
          pruned = true;
          const prune = await runCli(['audit', 'prune', '--config', configPath], env);
          expect(prune.code, prune.stderr).toBe(0);
        }
        return rows;
      };
      const report = await verifyStore(reads, loadAuditKeys({ env, dataDir: join(tmp.dir, 'data') }));
      expect(pruned).toBe(true);
      expect(report.problem).toBeNull();
      expect(report.firstSeq).toBe(last);
    } finally {
      await store.close();
    }
  });
});
