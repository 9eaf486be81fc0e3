import { CreddyError } from '../errors.js';
import type { StoreConfig } from './port.js';
import { createPool } from './postgres/connect.js';
import { grantRuntimeRole } from './postgres/grants.js';
import { migratePostgres, PG_SCHEMA_VERSION, unreachable } from './postgres/migrations.js';
import { setRetentionFloor } from './postgres/retention-floor.js';
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
  /**
   * PostgreSQL: the audit retention floor now in force, in seconds (rows younger are never
   * deleted); null when no audit row may be deleted. Absent when it was not asked to set one.
   */
  readonly retentionFloor?: number | null;
}

/**
 * Brings the store's schema up to this build's. PostgreSQL: the versioned migrations, under an
 * advisory lock (servers never migrate; they refuse another version). SQLite migrates itself on
 * open, as ever, so this only opens it. `target` stops at an earlier version (tests of upgrades);
 * `runtimeRole` then grants the server's role exactly what it needs (postgres/grants.ts);
 * `retentionFloor` (the config's `audit.retention`, seconds, or null for none) becomes the
 * database's audit retention floor, which only the schema owner can change (schema-v7.ts).
 * SQLite has no floor: whoever can write its file can rewrite it anyway.
 */
export async function migrateStore(
  config: StoreConfig,
  options: { target?: number; runtimeRole?: string; retentionFloor?: number | null } = {},
): Promise<MigrateResult> {
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
      const floor = options.retentionFloor === undefined ? undefined : await setRetentionFloor(client, options.retentionFloor, result.to);
      if (options.runtimeRole !== undefined) await grantRuntimeRole(client, options.runtimeRole);
      return {
        kind: 'postgres',
        ...result,
        ...(options.runtimeRole === undefined ? {} : { runtimeRole: options.runtimeRole }),
        ...(floor === undefined ? {} : { retentionFloor: floor }),
      };
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
