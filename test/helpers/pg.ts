import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server the tests use: the machine's own (trust auth on loopback), or
 * CREDDY_TEST_PG_URL. Tests that need it fail when it cannot be reached; they never skip.
 */
export const PG_ADMIN_URL = process.env['CREDDY_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** URL of database `name` on the test server (or on the server of `adminUrl`). */
export function databaseUrl(name: string, user?: string, adminUrl = PG_ADMIN_URL): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  if (user !== undefined) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
}

/** Runs SQL as the test server's superuser, on `database` (default: the admin database). */
export async function adminQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
  sql: string,
  values: unknown[] = [],
  database?: string,
  adminUrl = PG_ADMIN_URL,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: database ? databaseUrl(database, undefined, adminUrl) : adminUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export interface FreshDatabase {
  readonly name: string;
  /** URL as the superuser. */
  readonly url: string;
  /** Drops the database, closing whatever connections are left. */
  drop(): Promise<void>;
}

/**
 * CREATE DATABASE with a random name, on the test server or the one of `adminUrl`; drop()
 * removes it (call it in afterAll). Its collation is
 * ICU en-US where the server has ICU (a natural-language order, unlike the byte order of C), so
 * tests catch any order that depends on the database's locale.
 */
export async function freshDatabase(adminUrl = PG_ADMIN_URL): Promise<FreshDatabase> {
  const name = `creddy_test_${randomBytes(6).toString('hex')}`;
  const admin = (sql: string) => adminQuery(sql, [], undefined, adminUrl);
  await admin(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`).catch(() =>
    admin(`CREATE DATABASE ${name}`),
  );
  return {
    name,
    url: databaseUrl(name, undefined, adminUrl),
    drop: async () => void (await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}
