import Database from 'better-sqlite3';
import { adminQuery, type FreshDatabase } from './pg.js';

/**
 * Runs one SQL statement straight on a store's tables, as an attacker with write access to the
 * database (but no KEK, no audit key) would: on PostgreSQL `db` as its owner, else the SQLite
 * file at `sqlitePath`. `?` placeholders, rewritten to `$n` for PostgreSQL.
 */
export async function writeTables(
  where: { db: FreshDatabase | undefined; sqlitePath: string },
  sql: string,
  values: unknown[],
): Promise<void> {
  if (where.db) {
    let n = 0;
    await adminQuery(
      sql.replace(/\?/g, () => `$${++n}`),
      values,
      where.db.name,
    );
    return;
  }
  const conn = new Database(where.sqlitePath);
  try {
    conn.prepare(sql).run(...values);
  } finally {
    conn.close();
  }
}
