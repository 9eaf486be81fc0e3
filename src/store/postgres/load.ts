import { CreddyError } from '../../errors.js';
import { insertMany } from '../rows.js';
import { createPool, type PostgresTarget } from './connect.js';
import { migratePostgres, PG_SCHEMA_VERSION, schemaVersion, unreachable } from './migrations.js';

/** Tables `creddy store copy` fills, in dependency order (rows before the checkpoints naming them). */
export const COPY_TABLES = [
  'signing_keys',
  'agents',
  'agent_keys',
  'credentials',
  'audit_events',
  'audit_checkpoints',
  'audit_signing_keys',
  'secret_versions',
] as const;

/** Inserts rows of one table; columns are named by the rows' keys. */
export type Insert = (table: (typeof COPY_TABLES)[number], rows: readonly Record<string, unknown>[]) => Promise<void>;

/** Rows per INSERT: under PostgreSQL's 65,535 parameters for the widest table (17 columns). */
const CHUNK = 1000;

/**
 * Fills an empty creddy database in one transaction: migrates it first if it has no schema,
 * refuses (ERR_CONFLICT) one that holds any creddy row, locks every table so nothing else writes
 * meanwhile, and commits all or nothing. The audit rows keep their seq, hashes and chain; the
 * append-only trigger checks that linkage as they go in, except for a log that retention has cut
 * (it starts above seq 1, after a hash the target never sees): then that trigger alone is off
 * for this transaction, which must run as the schema owner (`ALTER TABLE`).
 */
export async function loadIntoEmptyDatabase(
  target: PostgresTarget,
  options: { pruned: boolean },
  fill: (insert: Insert) => Promise<void>,
): Promise<void> {
  const pool = createPool({ ...target, poolSize: 1 });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      throw unreachable(err, target.display);
    });
    try {
      const version = await schemaVersion(client);
      if (version === 0) await migratePostgres(client, target.display);
      else if (version !== PG_SCHEMA_VERSION) {
        throw new CreddyError(
          'ERR_NOT_READY',
          `${target.display} is at schema version ${version}, this creddy copies into ${PG_SCHEMA_VERSION}`,
        );
      }
      await client.query('BEGIN');
      try {
        await client.query(`LOCK TABLE ${COPY_TABLES.join(', ')} IN ACCESS EXCLUSIVE MODE`);
        const counts = await client.query<{ name: string; n: number }>(
          COPY_TABLES.map((t) => `SELECT '${t}' AS name, count(*) AS n FROM ${t}`).join(' UNION ALL '),
        );
        const filled = counts.rows.filter((r) => Number(r.n) > 0);
        if (filled.length > 0) {
          throw new CreddyError(
            'ERR_CONFLICT',
            `${target.display} is not empty (${filled.map((r) => `${r.n} rows in ${r.name}`).join(', ')}): store copy only fills an empty database`,
          );
        }
        if (options.pruned) await client.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
        await fill(async (table, rows) => {
          for (let i = 0; i < rows.length; i += CHUNK) {
            const chunk = rows.slice(i, i + CHUNK);
            const columns = Object.keys(chunk[0]!);
            const { text, values } = insertMany(
              table,
              columns,
              chunk.map((row) => columns.map((c) => row[c])),
            );
            await client.query(text, values);
          }
        });
        if (options.pruned) await client.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
