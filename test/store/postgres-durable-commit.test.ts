/**
 * A database (or role) whose own `synchronous_commit` is `off` would let COMMIT answer before its
 * WAL is flushed, so a 201 could follow an audit row that a crash loses. The store's durable
 * transactions ask for `on` themselves in that case, and leave any stronger setting alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPool } from '../../src/store/postgres/connect.js';
import { createDb, type Db } from '../../src/store/postgres/db.js';
import { adminQuery, type FreshDatabase, freshDatabase } from '../helpers/pg.js';

const setting = "SELECT current_setting('synchronous_commit') AS value";
type Row = { value: string };

describe('PostgreSQL durable commits whatever the database says', () => {
  let fresh: FreshDatabase | undefined;
  let db: Db | undefined;
  afterEach(async () => {
    await db?.end();
    await fresh?.drop();
    db = fresh = undefined;
  });

  const open = async (databaseSetting: string): Promise<Db> => {
    fresh = await freshDatabase();
    await adminQuery(`ALTER DATABASE ${fresh.name} SET synchronous_commit = ${databaseSetting}`);
    db = createDb(createPool({ url: fresh.url, display: fresh.url, poolSize: 2 }), async () => {});
    return db;
  };
  const inTransaction = (store: Db, durable?: boolean): Promise<string | undefined> =>
    store.transaction(async (tx) => (await tx.query<Row>(setting)).rows[0]?.value, durable === undefined ? {} : { durable });

  it('a database set to off: every durable transaction commits with synchronous_commit on', async () => {
    const store = await open('off');
    expect((await store.query<Row>(setting)).rows[0]?.value).toBe('off'); // the session's own value
    expect(await inTransaction(store)).toBe('on');
    expect(await inTransaction(store, true)).toBe('on');
    // CREDDY_AUDIT_SYNC=off (benchmarks only) still turns it off on purpose.
    expect(await inTransaction(store, false)).toBe('off');
  });

  it('a stronger setting (remote_apply) or local is kept as the operator set it', async () => {
    const store = await open('remote_apply');
    expect(await inTransaction(store)).toBe('remote_apply');
    await store.end();
    await fresh?.drop();
    const local = await open('local');
    expect(await inTransaction(local)).toBe('local');
  });
});
