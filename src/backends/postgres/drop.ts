import type pg from 'pg';
import { CreddyError } from '../../errors.js';
import { keeperProblems } from './keeper.js';

/** What becomes of the objects a dropped user owns. */
export interface DropOptions {
  /** `reassign_owned_to`: the role that receives them; undefined: they are dropped with the user. */
  readonly reassignTo: string | undefined;
  /** Every role scopes map to (the keeper must be none of them, nor reachable from them). */
  readonly mapped: readonly string[];
  /** The admin URL with its password masked, for messages. */
  readonly display: string;
}

/**
 * Ends a creddy role: no new logins, its sessions terminated (waiting up to 5 s for each), then
 * dropped. Each of these steps commits on its own (a NOLOGIN inside an open transaction would not
 * stop a login meanwhile). A role that owns objects or holds privileges here is cleared and
 * dropped in one transaction (`clearAndDrop`). Idempotent: a role already gone, also one dropped by
 * someone else halfway through, is done.
 */
export async function dropLoginRole(client: pg.ClientBase, roleName: string, options: DropOptions): Promise<'dropped' | 'absent'> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [roleName]);
  if (exists.rowCount === 0) return 'absent';
  const name = client.escapeIdentifier(roleName);
  try {
    await client.query(`ALTER ROLE ${name} NOLOGIN`);
    await client.query('SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [
      roleName,
    ]);
    try {
      await client.query(`DROP ROLE IF EXISTS ${name}`);
    } catch (err) {
      // 2BP01: it owns objects or holds privileges here.
      if ((err as { code?: string }).code !== '2BP01') throw err;
      await client.query('BEGIN');
      try {
        await clearAndDrop(client, roleName, options);
        await client.query('COMMIT');
      } catch (inner) {
        await client.query('ROLLBACK').catch(() => {});
        throw inner;
      }
    }
  } catch (err) {
    if ((err as { code?: string }).code === '42704') return 'absent'; // dropped meanwhile
    throw err;
  }
  return 'dropped';
}

/**
 * Inside the caller's transaction: takes the user's privileges, hands what it owns to the keeper
 * if one is configured, drops the rest (`DROP OWNED`: its objects, its privileges, its default
 * privileges), then the role. All or nothing: a failure rolls back the borrowed membership too.
 *
 * Never to the admin role: the admin is privileged, and a `SECURITY DEFINER` function the user
 * left would then run as the admin for anyone (functions are executable by PUBLIC).
 */
async function clearAndDrop(client: pg.ClientBase, roleName: string, options: DropOptions): Promise<void> {
  const name = client.escapeIdentifier(roleName);
  const [me] = (
    await client.query<{ usable: boolean; version: number }>(
      "SELECT pg_has_role(current_user, $1, 'USAGE') AS usable, current_setting('server_version_num')::int AS version",
      [roleName],
    )
  ).rows;
  // REASSIGN OWNED and DROP OWNED need the privileges of the role whose objects they touch. A
  // superuser has them; a CREATEROLE admin takes them by joining the role it created (allowed up
  // to PostgreSQL 15 by CREATEROLE, from 16 by the ADMIN OPTION its creator holds). From 16 a
  // new membership inherits only if asked to, whatever the admin's own INHERIT attribute.
  if (!me?.usable) await client.query(`GRANT ${name} TO CURRENT_USER${me && me.version >= 160_000 ? ' WITH INHERIT TRUE' : ''}`);
  if (options.reassignTo !== undefined) {
    // Checked again here, not only by doctor: the keeper may have been granted a role since.
    const problems = await keeperProblems(client, options.reassignTo, options.mapped);
    if (problems.length > 0) {
      throw new CreddyError(
        'ERR_BACKEND_MISCONFIGURED',
        `${options.display}: what user "${roleName}" owns is not handed over, and the user stays (without login) until this is fixed: ${problems.join('; ')}`,
        { expose: true, details: { upstream: 'postgres' } },
      );
    }
    await client.query(`REASSIGN OWNED BY ${name} TO ${client.escapeIdentifier(options.reassignTo)}`);
  }
  await client.query(`DROP OWNED BY ${name}`);
  await refuseOtherDatabases(client, roleName, options.display);
  await client.query(`DROP ROLE IF EXISTS ${name}`);
}

/**
 * REASSIGN and DROP OWNED act on the connected database only (and on shared objects). What the
 * user owns, or was granted, in another database keeps the role alive, and only a connection to
 * that database can clear it: say which, rather than PostgreSQL's bare "some objects depend on it".
 */
async function refuseOtherDatabases(client: pg.ClientBase, roleName: string, display: string): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
      WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
        AND d.datname <> current_database() ORDER BY 1`,
    [roleName],
  );
  if (rows.length === 0) return;
  const where = rows.map((r) => `"${r.datname}"`).join(', ');
  throw new CreddyError(
    'ERR_BACKEND_MISCONFIGURED',
    `${display}: user "${roleName}" owns objects or holds privileges in database ${where}, which creddy cannot clear from this connection; run DROP OWNED BY "${roleName}" there (the next attempt then drops it)`,
    { expose: true, details: { upstream: 'postgres' } },
  );
}
