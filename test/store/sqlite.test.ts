import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers/harness.js';
import { storeContract } from './contract.js';

describe('store contract: SQLite', () => {
  storeContract(async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'creddy.db');
    const store = createSqliteStore(path, { auditOffThread: false });
    const seconds: ReturnType<typeof createSqliteStore>[] = [];
    const raw = new Database(path);
    return {
      engine: 'sqlite',
      store,
      second: () => {
        const s = createSqliteStore(path, { auditOffThread: false });
        seconds.push(s);
        return s;
      },
      exec: async (sql) => void raw.exec(sql),
      async dispose() {
        raw.close();
        for (const s of seconds) await s.close();
        await store.close();
        cleanup();
      },
    };
  });
});
