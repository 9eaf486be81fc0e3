/**
 * The PostgreSQL store when its connections die: a lost or refused connection is ERR_NOT_READY
 * (503), never an unhandled error event that ends the process, and the pool recovers by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCreddyError } from '../../src/errors.js';
import { createPool } from '../../src/store/postgres/connect.js';
import { createDb, type Db } from '../../src/store/postgres/db.js';
import { isUnavailable, storeError } from '../../src/store/postgres/errors.js';
import { adminQuery, type FreshDatabase, freshDatabase } from '../helpers/pg.js';

describe('PostgreSQL connections lost', () => {
  let fresh: FreshDatabase;
  let db: Db;
  beforeAll(async () => {
    fresh = await freshDatabase();
    db = createDb(createPool({ url: fresh.url, display: fresh.url, poolSize: 2 }), async () => {});
  });
  afterAll(async () => {
    await db?.end();
    await fresh?.drop();
  });

  it('a connection terminated between two statements of a transaction fails it with ERR_NOT_READY; the pool carries on', async () => {
    const failed = await db
      .transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // The server ends this session while the client is idle in the transaction (as a
        // shutdown or a failover does): the client hears of it with no query of its own running.
        await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await new Promise((r) => setTimeout(r, 200));
        await tx.query('SELECT 1');
      })
      .catch((err: unknown) => err);
    expect(isCreddyError(failed, 'ERR_NOT_READY')).toBe(true);
    const { rows } = await db.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]!.one).toBe(1);
  });

  it('a pooled connection terminated while idle is replaced on the next query', async () => {
    await db.query('SELECT 1');
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [fresh.name]);
    await new Promise((r) => setTimeout(r, 100));
    const { rows } = await db.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]!.one).toBe(1);
  });

  it('a database nobody listens for is ERR_NOT_READY, at once', async () => {
    const url = new URL(fresh.url);
    url.port = '1';
    const nowhere = createDb(createPool({ url: url.toString(), display: 'nowhere', poolSize: 1 }), async () => {});
    try {
      const err = await nowhere.query('SELECT 1').catch((e: unknown) => e);
      expect(isCreddyError(err, 'ERR_NOT_READY')).toBe(true);
    } finally {
      await nowhere.end();
    }
  });

  it('a statement unanswered past the deadline is ERR_NOT_READY and its connection is closed, not reused', async () => {
    const bounded = createDb(createPool({ url: fresh.url, display: fresh.url, poolSize: 1 }, { deadlineMs: 300 }), async () => {});
    const pid = async (): Promise<number> => (await bounded.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    try {
      const before = await pid();
      // The server answers after the deadline: that late answer must never reach another query.
      const late = await bounded.query('SELECT pg_sleep(1)').catch((e: unknown) => e);
      expect(isCreddyError(late, 'ERR_NOT_READY')).toBe(true);
      const afterQuery = await pid();
      expect(afterQuery).not.toBe(before);
      // In a transaction too, without a ROLLBACK queued behind the unanswered statement.
      const inTx = await bounded.transaction((tx) => tx.query('SELECT pg_sleep(1)')).catch((e: unknown) => e);
      expect(isCreddyError(inTx, 'ERR_NOT_READY')).toBe(true);
      expect(await pid()).not.toBe(afterQuery);
      // A statement marked long is given until past the server's statement_timeout.
      const { rows } = await bounded.query<{ v: string }>({ text: "SELECT 'done' AS v FROM pg_sleep(0.5)", long: true });
      expect(rows[0]!.v).toBe('done');
    } finally {
      await bounded.end();
    }
  });

  it('tells unavailability from a refused statement', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P03', '08006', '53300']) {
      expect(isUnavailable(Object.assign(new Error('x'), { code }))).toBe(true);
    }
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    for (const code of ['23505', '40001', '57014', '42P01']) expect(isUnavailable(Object.assign(new Error('x'), { code }))).toBe(false);
    const unique = Object.assign(new Error('duplicate key'), { code: '23505' });
    expect(storeError(unique)).toBe(unique);
  });
});

describe("the tests' PostgreSQL helper (test/helpers/pg.ts)", () => {
  it('says how to start PostgreSQL when nothing answers, never a bare ECONNREFUSED, and masks the password', async () => {
    const err = await adminQuery('SELECT 1', [], undefined, 'postgres://postgres:pw-secret@127.0.0.1:1/postgres').then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /^PostgreSQL not reachable at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \(ECONNREFUSED\): start it \(.*\) or set CREDDY_TEST_PG_URL/,
    );
  });
});
