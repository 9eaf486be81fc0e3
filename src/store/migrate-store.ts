import { CreddyError } from '../errors.js';
import type { StoreConfig } from './port.js';
import { createPool } from './postgres/connect.js';
import { grantRuntimeRole } from './postgres/grants.js';
import { migratePostgres, PG_SCHEMA_VERSION, unreachable } from './postgres/migrations.js';
import { createSqliteStore } from './sqlite/index.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/migrations.js';

/** What `creddy store migrate` did. */
export interface MigrateResult {
  readonly kind: StoreConfig['kind'];
  /** Schema version before and after. */
  readonly from: number;
  readonly to: number;
  /** The runtime role granted its privileges, if one was named. */
  readonly runtimeRole?: string;
}

/**
 * Brings the store's schema up to this build's. PostgreSQL: the versioned migrations, under an
 * advisory lock (servers never migrate; they refuse another version). SQLite migrates itself on
 * open, as ever, so this only opens it. `target` stops at an earlier version (tests of upgrades);
 * `runtimeRole` then grants the server's role exactly what it needs (postgres/grants.ts).
 */
export async function migrateStore(config: StoreConfig, options: { target?: number; runtimeRole?: string } = {}): Promise<MigrateResult> {
  if (config.kind === 'sqlite') {
    if (options.runtimeRole !== undefined) throw new CreddyError('ERR_USAGE', '--runtime-role applies only to a postgres store');
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
      if (options.runtimeRole === undefined) return { kind: 'postgres', ...result };
      await grantRuntimeRole(client, options.runtimeRole);
      return { kind: 'postgres', ...result, runtimeRole: options.runtimeRole };
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
