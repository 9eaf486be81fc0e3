import type { StoreConfig } from './port.js';
import { createPool } from './postgres/connect.js';
import { migratePostgres, PG_SCHEMA_VERSION, unreachable } from './postgres/migrations.js';
import { createSqliteStore } from './sqlite/index.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/migrations.js';

/** What `creddy store migrate` did. */
export interface MigrateResult {
  readonly kind: StoreConfig['kind'];
  /** Schema version before and after. */
  readonly from: number;
  readonly to: number;
}

/**
 * Brings the store's schema up to this build's. PostgreSQL: the versioned migrations, under an
 * advisory lock (servers never migrate; they refuse another version). SQLite migrates itself on
 * open, as ever, so this only opens it. `target` stops at an earlier version (tests of upgrades).
 */
export async function migrateStore(config: StoreConfig, options: { target?: number } = {}): Promise<MigrateResult> {
  if (config.kind === 'sqlite') {
    const latest = SQLITE_MIGRATIONS.at(-1)!.version;
    await createSqliteStore(config.path, { auditOffThread: false }).close();
    return { kind: 'sqlite', from: latest, to: latest };
  }
  const pool = createPool({ ...config, poolSize: 1 });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      throw unreachable(err, config.display);
    });
    try {
      const result = await migratePostgres(client, config.display, options.target ?? PG_SCHEMA_VERSION);
      return { kind: 'postgres', ...result };
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
