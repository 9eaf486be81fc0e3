/**
 * `creddy server --workers 2` on each store: both workers serve the one port, and they behave as
 * one broker — a CLI rotation and an agent revocation reach both, SIGTERM drains both, the audit
 * log verifies.
 */

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CLASS, LOCKS } from '../../src/store/postgres/db.js';
import { eventually } from '../helpers/harness.js';
import { sampleValue } from '../helpers/metrics.js';
import { adminQuery, testClient } from '../helpers/pg.js';
import { call, type Engine, fromEveryWorker, issue, startWorkers, type WorkerSet } from './harness.js';

/**
 * Holds the audit chain's write lock from outside, so appends (and their requests) wait.
 * `allWaiting(n)`: every worker has an append of the `n` requests sent waiting on the lock.
 */
async function holdAuditLock(set: WorkerSet): Promise<{ allWaiting(requests: number): Promise<boolean>; release(): Promise<void> }> {
  const fresh = set.db;
  if (fresh) {
    const client = testClient(fresh.url);
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
    return {
      // Sessions of the workers waiting for the lock: each has an append (a batch) in flight.
      allWaiting: async () =>
        (
          await adminQuery<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'advisory' AND pid <> $2",
            [fresh.name, (client as unknown as { processID: number }).processID],
          )
        )[0]!.n >= 2,
      release: async () => {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCKS.audit]);
        await client.end();
      },
    };
  }
  const db = new Database(join(set.dataDir, 'creddy.db'));
  db.pragma('busy_timeout = 5000');
  db.exec('BEGIN IMMEDIATE');
  return {
    // SQLite lists no waiters, but the workers' audit queues show them: the entries waiting for
    // their commit, summed over the workers (/metrics on a connection of its own, so none is left
    // idle for the drain). All of them waiting means every worker has its share.
    allWaiting: async (requests) => {
      const scraped = await call(set.url, '/metrics');
      return sampleValue(scraped.body as string, 'creddy_audit_queue_depth')! >= requests;
    },
    release: async () => {
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

async function issuedRows(set: WorkerSet, ids: string[]): Promise<Set<string>> {
  if (set.db) {
    const rows = await adminQuery<{ jti: string }>(
      "SELECT jti FROM audit_events WHERE type = 'credential.issued' AND jti = ANY($1::text[])",
      [ids],
      set.db.name,
    );
    return new Set(rows.map((r) => r.jti));
  }
  const db = new Database(join(set.dataDir, 'creddy.db'), { readonly: true });
  try {
    const rows = db.prepare("SELECT jti FROM audit_events WHERE type = 'credential.issued'").all() as Array<{ jti: string }>;
    return new Set(rows.map((r) => r.jti).filter((jti) => ids.includes(jti)));
  } finally {
    db.close();
  }
}

describe.each<Engine>(['sqlite', 'postgres'])('creddy server --workers 2 on %s', (engine) => {
  let set: WorkerSet;
  let pids: number[];
  let token: string;
  beforeAll(async () => {
    set = await startWorkers(engine, { extra: 'audit:\n  write_timeout: 5s' });
    pids = set.workerPids();
    token = await set.agent('caller', 'demo:read');
  });
  afterAll(async () => set?.cleanup());

  it('both workers serve the one port, each in a process of its own, each ready', async () => {
    expect(pids).toHaveLength(2);
    expect(new Set([...pids, set.primary.pid]).size).toBe(3);
    await fromEveryWorker(
      pids,
      () => issue(set.url, token),
      (a) => a.status === 201,
    );
    await fromEveryWorker(
      pids,
      () => call(set.url, '/readyz'),
      (a) => a.status === 200 && a.body.status === 'ready',
    );
  });

  it('a rotation by the CLI is picked up by both workers', async () => {
    const rotate = await set.cli('keys', 'rotate', '--force', '--json');
    expect(rotate.code, rotate.stderr).toBe(0);
    const { current, next } = JSON.parse(rotate.stdout) as { current: string; next: string };
    await fromEveryWorker(
      pids,
      () => issue(set.url, token),
      (a) => a.status === 201 && decodeProtectedHeader(a.body.token).kid === current,
    );
    await fromEveryWorker(
      pids,
      () => call(set.url, '/.well-known/jwks.json'),
      (a) => (a.body.keys as Array<{ kid: string }>).some((k) => k.kid === next),
    );
  });

  it('an agent revoked by the CLI is refused by both workers', async () => {
    const doomed = await set.agent('doomed', 'demo:read');
    expect((await issue(set.url, doomed)).status).toBe(201);
    const revoke = await set.cli('agent', 'revoke', 'doomed');
    expect(revoke.code, revoke.stderr).toBe(0);
    const answers = await fromEveryWorker(pids, () => issue(set.url, doomed));
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.body.error.code).toBe('ERR_AGENT_REVOKED');
    }
  });

  it('SIGTERM drains what every worker has in flight, then the primary exits 0; the audit log verifies', async () => {
    const lock = await holdAuditLock(set);
    let answers: Awaited<ReturnType<typeof issue>>[];
    try {
      const pending = Promise.all(Array.from({ length: 6 }, () => issue(set.url, token)));
      await eventually(() => lock.allWaiting(6), 10_000);
      set.primary.kill('SIGTERM');
      await eventually(() => set.log.filter((l) => l['msg'] === 'draining' && l['worker'] !== undefined).length === 2, 10_000);
      await lock.release();
      answers = await pending;
    } catch (err) {
      await lock.release().catch(() => {});
      throw err;
    }
    for (const a of answers) expect(a.status).toBe(201);
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set(pids));
    expect(await set.exited).toBe(0);
    expect(set.log.some((l) => l['msg'] === 'all workers stopped')).toBe(true);
    const ids = answers.map((a) => a.body.id as string);
    expect(await issuedRows(set, ids)).toEqual(new Set(ids));
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit log verified/);
  });
});
