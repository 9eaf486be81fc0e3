import { describe } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres/index.js';
import { type FreshDatabase, migratedDatabase, testClient } from '../helpers/pg.js';
import { storeContract } from './contract.js';

describe('store contract: PostgreSQL', () => {
  storeContract(async () => {
    const db: FreshDatabase = await migratedDatabase();
    const target = { url: db.url, display: db.url, poolSize: 4 };
    const store = createPostgresStore(target);
    const seconds: ReturnType<typeof createPostgresStore>[] = [];
    const raw = testClient(db.url);
    await raw.connect();
    // As `store migrate` with `audit.retention: 1d` would: the contract's rows are older (fixture.ts).
    await raw.query('UPDATE audit_retention_floor SET min_age_seconds = 86400');
    return {
      engine: 'postgres',
      store,
      second: () => {
        const s = createPostgresStore(target);
        seconds.push(s);
        return s;
      },
      exec: async (sql) => void (await raw.query(sql)),
      async dispose() {
        await raw.end();
        for (const s of seconds) await s.close();
        await store.close();
        await db.drop();
      },
    };
  });
});
