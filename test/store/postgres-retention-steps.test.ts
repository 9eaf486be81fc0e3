/**
 * Retention on PostgreSQL: each step calls the prune function and appends its audit.pruned row
 * in one transaction, under the audit chain's lock. A real `creddy audit prune` process is held
 * at the start of every step (a test trigger on the prune gate waits on an advisory lock the
 * test holds), so the log is verified at each step boundary as another process sees it, then the
 * process is killed with SIGKILL in the middle of a step; the log still verifies, and a re-run
 * finishes. The prune once wrote its one record after all steps: at the first boundary the log
 * already failed verification.
 */
import { spawn } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillLog, retentionConfig, stepEnds, verifyLog } from '../helpers/audit-log.js';
import { BIN, runCli } from '../helpers/cli.js';
import { eventually, tempDir, testEnv } from '../helpers/harness.js';
import { adminQuery, type FreshDatabase, migratedDatabase, testClient } from '../helpers/pg.js';

const DAY = 86_400_000;
/** Advisory lock class of the test's step holds (creddy's own locks use another). */
const HOLD = 747_001;

describe('audit prune in steps (PostgreSQL)', () => {
  const tmp = tempDir();
  const env = testEnv();
  let db: FreshDatabase;
  let configPath: string;
  let holder: pg.Client;
  let ends: number[];

  beforeAll(async () => {
    db = await migratedDatabase();
    // As `creddy store migrate` with audit.retention 365d would set it.
    await adminQuery('UPDATE audit_retention_floor SET min_age_seconds = $1', [365 * 86_400], db.name);
    configPath = retentionConfig(tmp.dir, '365d', `store: ${db.url}\n`);
    await fillLog(configPath, env, Date.now() - 400 * DAY, 25_000);
    await fillLog(configPath, env, Date.now() - DAY, 20);
    const checkpoints = await adminQuery<{ seq: number }>('SELECT seq::int AS seq FROM audit_checkpoints ORDER BY seq', [], db.name);
    ends = stepEnds(checkpoints.slice(0, 25).map((c) => c.seq));
    expect(ends).toHaveLength(3);
    // Every step's gate update waits for the test's lock numbered after it (1, 2, 3, …).
    await adminQuery(
      `CREATE SEQUENCE test_prune_step;
       CREATE FUNCTION test_hold_prune_step() RETURNS trigger LANGUAGE plpgsql AS $fn$
       BEGIN
         IF NEW.below_seq > 0 THEN PERFORM pg_advisory_xact_lock(${HOLD}, nextval('test_prune_step')::int); END IF;
         RETURN NEW;
       END $fn$;
       CREATE TRIGGER test_hold_prune_step BEFORE UPDATE ON audit_prune_gate FOR EACH ROW EXECUTE FUNCTION test_hold_prune_step();`,
      [],
      db.name,
    );
    holder = testClient(db.url);
    await holder.connect();
    for (const step of [1, 2, 3]) await holder.query('SELECT pg_advisory_lock($1, $2)', [HOLD, step]);
  });
  afterAll(async () => {
    await holder?.end();
    await db?.drop();
    tmp.cleanup();
  });

  /** The backend of the prune process once it waits at the start of `step`. */
  const heldAt = async (step: number): Promise<number> => {
    let pid: number | undefined;
    await eventually(async () => {
      const rows = await adminQuery<{ pid: number }>(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND NOT granted",
        [HOLD, step],
        db.name,
      );
      pid = rows[0]?.pid;
      return pid !== undefined;
    }, 20_000);
    return pid!;
  };
  const release = (step: number) => holder.query('SELECT pg_advisory_unlock($1, $2)', [HOLD, step]);

  it('verifies at every step boundary; a process killed mid-step leaves a log that verifies; the re-run finishes', async () => {
    const child = spawn(process.execPath, [BIN, 'audit', 'prune', '--config', configPath], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    });
    child.stdin.end();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

    await heldAt(1);
    // Steps 1 and 2 commit one at a time; at each boundary another process verifies the log.
    for (const [i, anchor] of ends.slice(0, 2).entries()) {
      await release(i + 1);
      await heldAt(i + 2);
      const { code, report } = await verifyLog(configPath, env);
      expect(report.problem, `after step ${i + 1}`).toBeNull();
      expect(code).toBe(0);
      expect(report.first_seq).toBe(anchor);
    }

    // Killed inside step 3: its transaction (the function call, the record) never commits.
    const backend = await heldAt(3);
    child.kill('SIGKILL');
    expect(await exited, stderr).toBe('SIGKILL');
    await adminQuery('SELECT pg_terminate_backend($1)', [backend], db.name);
    await release(3);
    await adminQuery('DROP TRIGGER test_hold_prune_step ON audit_prune_gate', [], db.name);
    const killed = await verifyLog(configPath, env);
    expect(killed.report.problem).toBeNull();
    expect(killed.report.first_seq).toBe(ends[1]);

    const rerun = await runCli(['audit', 'prune', '--json', '--config', configPath], env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toEqual({ deleted: ends[2]! - ends[1]!, anchor_seq: ends[2], steps: 1 });
    const done = await verifyLog(configPath, env);
    expect(done.code, JSON.stringify(done.report.problem)).toBe(0);
    expect(done.report.first_seq).toBe(ends[2]);
    // One record per committed step, each naming what it removed.
    const records = await adminQuery<{ details: Record<string, number> }>(
      "SELECT details::jsonb AS details FROM audit_events WHERE type = 'audit.pruned' ORDER BY seq",
      [],
      db.name,
    );
    expect(records.map((r) => [r.details['from_seq'], r.details['anchor_seq']])).toEqual([
      [1, ends[0]],
      [ends[0], ends[1]],
      [ends[1], ends[2]],
    ]);
  });
});
