import type pg from 'pg';
import { CreddyError } from '../../errors.js';
import { LOCK_CLASS, LOCKS } from './db.js';
import { SCHEMA_V1_SQL } from './schema-v1.js';
import { SCHEMA_V2_SQL } from './schema-v2.js';
import { SCHEMA_V3_SQL } from './schema-v3.js';
import { SCHEMA_V4_SQL } from './schema-v4.js';
import { SCHEMA_V5_SQL } from './schema-v5.js';
import { SCHEMA_V6_SQL } from './schema-v6.js';
import { SCHEMA_V7_SQL } from './schema-v7.js';

/**
 * Versioned schema migrations, applied in order by `creddy store migrate` (never by a server);
 * `schema_migrations` records each applied version. Append new versions; never edit a released one.
 */
export const PG_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  { version: 1, name: 'core tables', sql: SCHEMA_V1_SQL },
  { version: 2, name: 'audit append-only, checkpoints, retention guard', sql: SCHEMA_V2_SQL },
  { version: 3, name: 'federation: one-time ID tokens, audit by rule and CI run', sql: SCHEMA_V3_SQL },
  { version: 4, name: 'agents: one record per agent create (id), names reusable after revocation', sql: SCHEMA_V4_SQL },
  { version: 5, name: 'secret versions', sql: SCHEMA_V5_SQL },
  { version: 6, name: 'key-pair agents: public keys, require_dpop', sql: SCHEMA_V6_SQL },
  { version: 7, name: 'audit retention floor set by the schema owner', sql: SCHEMA_V7_SQL },
];

/** The schema version this build of creddy reads and writes. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.at(-1)!.version;

const MIGRATE_HINT = 'run `creddy store migrate` with the schema owner';

/** The applied version (0 for an empty database), read on any client. */
export async function schemaVersion(client: pg.ClientBase | pg.Pool): Promise<number> {
  const { rows } = await client.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists");
  if (!rows[0]?.exists) return 0;
  const version = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return Number(version.rows[0]?.v ?? 0);
}

/**
 * Refuses a database whose schema is not exactly this build's: older (migrate first) or newer (a
 * newer creddy migrated it; this one would misread it). Servers and operator commands check at
 * their first store call.
 */
export async function checkSchema(pool: pg.Pool, display: string): Promise<void> {
  let version: number;
  try {
    version = await schemaVersion(pool);
  } catch (err) {
    throw unreachable(err, display);
  }
  if (version === PG_SCHEMA_VERSION) return;
  if (version === 0) throw new CreddyError('ERR_NOT_READY', `${display} has no creddy schema: ${MIGRATE_HINT}`);
  if (version < PG_SCHEMA_VERSION) {
    throw new CreddyError(
      'ERR_NOT_READY',
      `${display} is at schema version ${version}, this creddy needs ${PG_SCHEMA_VERSION}: ${MIGRATE_HINT}`,
    );
  }
  throw new CreddyError(
    'ERR_NOT_READY',
    `${display} is at schema version ${version}, newer than this creddy knows (${PG_SCHEMA_VERSION}): upgrade creddy; \`creddy store migrate\` never downgrades`,
  );
}

/** A connection failure as ERR_NOT_READY naming the database (password masked), not the raw URL. */
export function unreachable(err: unknown, display: string): CreddyError {
  return new CreddyError('ERR_NOT_READY', `cannot use PostgreSQL at ${display}: ${(err as Error).message}`, { cause: err });
}

/**
 * Applies pending migrations up to `target` (default: all), each in its own transaction, under a
 * session advisory lock: a second process migrating at once waits, then finds nothing to do.
 * Returns the version before and after.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  display: string,
  target = PG_SCHEMA_VERSION,
): Promise<{ from: number; to: number }> {
  // A migration of a large table, or waiting for another migrator, may take longer than the
  // statement timeout that protects request paths.
  await client.query('SET statement_timeout = 0');
  await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, LOCKS.migrate]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const from = await schemaVersion(client);
    if (from > PG_SCHEMA_VERSION) {
      throw new CreddyError(
        'ERR_CONFIG_INVALID',
        `${display} is at schema version ${from}, newer than this creddy knows (${PG_SCHEMA_VERSION}): nothing to do; upgrade creddy`,
      );
    }
    for (const migration of PG_MIGRATIONS) {
      if (migration.version <= from || migration.version > target) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new CreddyError('ERR_NOT_READY', `migration ${migration.version} (${migration.name}) failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return { from, to: Math.max(from, Math.min(target, PG_SCHEMA_VERSION)) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, LOCKS.migrate]);
  }
}
