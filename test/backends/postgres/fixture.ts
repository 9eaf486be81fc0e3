import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { adminQuery, databaseUrl, type FreshDatabase, freshDatabase, testClient } from '../../helpers/pg.js';

/**
 * A database on the machine's PostgreSQL for `type: postgres` backends: a table, a read and a
 * write group role, and admin roles with all, least and too few rights. Roles are cluster-wide,
 * so every name carries this run's suffix, and the backends' `role_prefix` does too: a sweep in
 * this file never touches another file's (or another run's) roles.
 */
export interface PgFixture {
  readonly db: FreshDatabase;
  readonly suffix: string;
  /** `role_prefix` of every backend here. */
  readonly prefix: string;
  readonly readRole: string;
  readonly writeRole: string;
  /** A non-superuser with CREATEROLE and pg_signal_backend: the recommended admin. */
  readonly leastAdmin: string;
  /** A login role with no rights to manage roles. */
  readonly weakAdmin: string;
  /** A group role with BYPASSRLS, which creddy must refuse to grant. */
  readonly strongRole: string;
  /** The `backends:` YAML: db (superuser admin), db-lp (least-privilege admin), db-weak, db-strong. */
  backendsYaml(extra?: string): string;
  /** Roles that carry this run's prefix. */
  leftoverRoles(): Promise<string[]>;
  drop(): Promise<void>;
}

export async function createPgFixture(): Promise<PgFixture> {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `ct${suffix}_`;
  const db = await freshDatabase();
  const readRole = `app_read_${suffix}`;
  const writeRole = `app_write_${suffix}`;
  const leastAdmin = `creddy_admin_${suffix}`;
  const weakAdmin = `weak_admin_${suffix}`;
  const strongRole = `app_strong_${suffix}`;
  await adminQuery(`CREATE ROLE ${readRole} NOLOGIN`);
  await adminQuery(`CREATE ROLE ${writeRole} NOLOGIN`);
  await adminQuery(`CREATE ROLE ${strongRole} NOLOGIN BYPASSRLS`);
  await adminQuery(`CREATE ROLE ${leastAdmin} LOGIN CREATEROLE`);
  await adminQuery(`GRANT pg_signal_backend TO ${leastAdmin}`);
  await adminQuery(`CREATE ROLE ${weakAdmin} LOGIN`);
  await adminQuery(
    `CREATE TABLE orders (id integer PRIMARY KEY, note text);
     INSERT INTO orders VALUES (1, 'first');
     GRANT SELECT ON orders TO ${readRole};
     GRANT INSERT, UPDATE, DELETE ON orders TO ${writeRole};`,
    [],
    db.name,
  );
  const backend = (name: string, admin: string, roles: string) => `  ${name}:
    type: postgres
    url: ${databaseUrl(db.name, admin)}
    role_prefix: ${prefix}
    default_ttl: 10m
    allowed_scopes: [read, write]
    default_scopes: [read]
    roles: ${roles}`;
  const roles = `{read: [${readRole}], write: [${readRole}, ${writeRole}]}`;
  return {
    db,
    suffix,
    prefix,
    readRole,
    writeRole,
    leastAdmin,
    weakAdmin,
    strongRole,
    backendsYaml: (extra = '') =>
      [
        backend('db', 'postgres', roles).replace(`url: ${databaseUrl(db.name, 'postgres')}`, 'url: ${env:CREDDY_PG_ADMIN_URL}'),
        backend('db-lp', leastAdmin, roles),
        backend('db-weak', weakAdmin, roles),
        backend('db-strong', 'postgres', `{read: [${readRole}], write: [${strongRole}]}`),
        extra,
      ].join('\n'),
    leftoverRoles: async () =>
      (await adminQuery<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1', [prefix])).map(
        (r) => r.rolname,
      ),
    async drop() {
      const left = await adminQuery<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [prefix]);
      const roles = [...left.map((r) => r.rolname), readRole, writeRole, strongRole, leastAdmin, weakAdmin];
      // Their rights in the database first, so the roles can go before it does (db.drop() only starts that).
      await adminQuery(`DROP OWNED BY ${roles.map((role) => `"${role}"`).join(', ')}`, [], db.name);
      for (const role of roles) await adminQuery(`DROP ROLE IF EXISTS "${role}"`);
      await db.drop();
    },
  };
}

/** The environment the `db` backend's `${env:CREDDY_PG_ADMIN_URL}` reads. */
export const adminUrlEnv = (fx: PgFixture): NodeJS.ProcessEnv => ({ CREDDY_PG_ADMIN_URL: databaseUrl(fx.db.name, 'postgres') });

/** Connects as an issued user; resolves with the client or rejects with PostgreSQL's error. */
export async function connectAs(url: string): Promise<pg.Client> {
  // A session ended by creddy emits 'error' on the idle client (ignored there, ../../helpers/pg.ts);
  // the test reads it from the next query.
  const client = testClient(url);
  await client.connect();
  return client;
}

/** Whether `url` can log in now (trust auth on the test server: the role must exist and have LOGIN). */
export async function canLogin(url: string): Promise<boolean> {
  try {
    const client = await connectAs(url);
    await client.end();
    return true;
  } catch {
    return false;
  }
}
