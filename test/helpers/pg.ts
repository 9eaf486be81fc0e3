import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { inject } from 'vitest';
import { migrateStore } from '../../src/store/migrate-store.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { dropDatabase, RUN_DATABASES } from './global-setup.js';
import { connectTestClient } from './pg-client.js';

export { ignoreDisconnects, testClient } from './pg-client.js';

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
  const client = await connectTestClient(database ? databaseUrl(database, undefined, adminUrl) : adminUrl);
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
  /**
   * Drops the database, closing whatever connections are left: in the background, since DROP
   * DATABASE waits for a checkpoint (about half a second, longer on a busy machine) that no test
   * needs; whatever is left is dropped at the end of the run (./global-setup.ts). Call it in
   * afterAll all the same. Resolves at once.
   */
  drop(): Promise<void>;
}

/**
 * An empty database with a random name, on the test server or the one of `adminUrl`; drop()
 * removes it (call it in afterAll). For a creddy store, use `migratedDatabase()`.
 */
export async function freshDatabase(adminUrl = PG_ADMIN_URL): Promise<FreshDatabase> {
  const name = newDatabaseName(adminUrl);
  await createDatabase(name, adminUrl);
  return database(name, adminUrl);
}

/**
 * A fresh database with creddy's schema already migrated, for tests that use PostgreSQL as the
 * store: a copy (`CREATE DATABASE … TEMPLATE`) of a template migrated once, which takes a fraction
 * of running the migrations in every file. Use it instead of `freshDatabase()` + `migrateStore()`;
 * tests of the migrations themselves start from `freshDatabase()`.
 *
 * The template is named after a hash of the migrations (`creddy_template_<hash>`): built on first
 * use by whichever worker gets there first (the others wait on an advisory lock), then kept on the
 * server for later runs and for other checkouts with the same schema. It refuses connections, so
 * nothing can change it or block a copy. A changed migration makes a new one; old ones can be
 * dropped by hand (`DROP DATABASE creddy_template_… ` after `ALTER DATABASE … IS_TEMPLATE false`).
 */
export async function migratedDatabase(adminUrl = PG_ADMIN_URL): Promise<FreshDatabase> {
  const template = await migratedTemplate(adminUrl);
  const name = newDatabaseName(adminUrl);
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`, [], undefined, adminUrl);
  return database(name, adminUrl);
}

const TEMPLATE = `creddy_template_${createHash('sha256').update(JSON.stringify(PG_MIGRATIONS)).digest('hex').slice(0, 16)}`;
/** Advisory lock key (on the admin database) under which a template is built. */
const TEMPLATE_LOCK = 0x63726464;
/** Templates this process has seen, per server. */
const templates = new Map<string, Promise<string>>();

function migratedTemplate(adminUrl: string): Promise<string> {
  let template = templates.get(adminUrl);
  if (!template) {
    template = buildTemplate(adminUrl);
    templates.set(adminUrl, template);
    template.catch(() => templates.delete(adminUrl));
  }
  return template;
}

async function buildTemplate(adminUrl: string): Promise<string> {
  const client = await connectTestClient(adminUrl);
  try {
    const exists = async () => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE])).rowCount === 1;
    if (await exists()) return TEMPLATE;
    await client.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      if (await exists()) return TEMPLATE;
      // Built under another name and renamed when complete: a template that exists is whole.
      const building = `${TEMPLATE}_build`;
      await client.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await createDatabase(building, adminUrl);
      const url = databaseUrl(building, undefined, adminUrl);
      await migrateStore({ kind: 'postgres', url, display: url, poolSize: 1 });
      // The migration's own session may take a moment to go after it closed its end.
      for (let attempt = 1; ; attempt++) {
        const renamed = await client.query(`ALTER DATABASE ${building} RENAME TO ${TEMPLATE}`).then(
          () => true,
          (err: unknown) => {
            if (attempt >= 50 || (err as { code?: string }).code !== '55006') throw err;
            return false;
          },
        );
        if (renamed) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await client.query(`ALTER DATABASE ${TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
      return TEMPLATE;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  } finally {
    await client.end();
  }
}

/**
 * CREATE DATABASE from template0 with ICU en-US collation where the server has ICU (a
 * natural-language order, unlike the byte order of C), so tests catch any order that depends on
 * the database's locale. Copies of the migrated template inherit it.
 */
async function createDatabase(name: string, adminUrl: string): Promise<void> {
  const admin = (sql: string) => adminQuery(sql, [], undefined, adminUrl);
  await admin(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`).catch(() =>
    admin(`CREATE DATABASE ${name}`),
  );
}

/** A random name, listed for the end of the run before the database exists. */
function newDatabaseName(adminUrl: string): string {
  const name = `creddy_test_${randomBytes(6).toString('hex')}`;
  appendFileSync(join(inject('creddyRunDir'), RUN_DATABASES), `${adminUrl}\t${name}\n`);
  return name;
}

function database(name: string, adminUrl: string): FreshDatabase {
  return {
    name,
    url: databaseUrl(name, undefined, adminUrl),
    // Not awaited: see FreshDatabase.drop. A failure (a server already stopped) leaves it to the end of the run.
    drop: () => {
      dropDatabase(adminUrl, name).catch(() => undefined);
      return Promise.resolve();
    },
  };
}
