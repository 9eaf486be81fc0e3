import type pg from 'pg';
import type { AdminPool } from './admin.js';
import type { PostgresSettings } from './config.js';
import { keeperProblems } from './keeper.js';
import { describePrivileged, privilegedRoles } from './privileged.js';
import { parseRoleComment } from './roles.js';

/**
 * What the admin connection of a postgres backend cannot do, as sentences an operator can act on
 * (empty: ready). For `creddy doctor` and tests; issuance reports the same failures as
 * ERR_BACKEND_MISCONFIGURED when they happen. Connection failures reject with the CreddyError.
 */
export async function checkPostgresAdmin(admin: AdminPool, settings: PostgresSettings, backend: string): Promise<string[]> {
  const wanted = [...new Set([...settings.roles.values()].flat())];
  return admin.withClient(async (client) => {
    const problems: string[] = [];
    const me = (
      await client.query<{
        name: string;
        rolsuper: boolean;
        rolcreaterole: boolean;
        rolinherit: boolean;
        can_signal: boolean;
        version: number;
      }>(
        `SELECT rolname AS name, rolsuper, rolcreaterole, rolinherit, pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS can_signal,
                current_setting('server_version_num')::int AS version
           FROM pg_roles WHERE rolname = current_user`,
      )
    ).rows[0]!;
    const who = `the admin role "${me.name}" of ${settings.display}`;
    if (!me.rolsuper && !me.rolcreaterole) problems.push(`${who} lacks CREATEROLE (ALTER ROLE ${me.name} CREATEROLE)`);
    if (!me.rolsuper && !me.can_signal)
      problems.push(`${who} cannot end the sessions of expired users (GRANT pg_signal_backend TO ${me.name})`);
    // Up to PostgreSQL 15 the membership it takes in a user to drop what the user owns gives it
    // that user's privileges only if it inherits (from 16 creddy asks for INHERIT on the grant).
    if (!me.rolsuper && !me.rolinherit && me.version < 160_000)
      problems.push(`${who} is NOINHERIT: it cannot drop the objects of the users it drops (ALTER ROLE ${me.name} INHERIT)`);
    const { rows } = await client.query<{ rolname: string; grantable: boolean }>(
      `SELECT rolname, ($2 OR ($3 < 160000 AND $4) OR pg_has_role(current_user, oid, 'MEMBER WITH ADMIN OPTION')) AS grantable
         FROM pg_roles WHERE rolname = ANY($1::text[])`,
      [wanted, me.rolsuper, me.version, me.rolcreaterole],
    );
    const found = new Map(rows.map((r) => [r.rolname, r.grantable] as const));
    for (const role of wanted) {
      if (!found.has(role)) problems.push(`role "${role}" (backend roles) does not exist in ${settings.display}`);
      else if (!found.get(role)) problems.push(`${who} may not grant role "${role}" (GRANT ${role} TO ${me.name} WITH ADMIN OPTION)`);
    }
    for (const found of await privilegedRoles(client, wanted)) {
      problems.push(`${describePrivileged([found])}: more than data access, creddy will not grant it`);
    }
    if (settings.reassignTo !== undefined) problems.push(...(await keeperProblems(client, settings.reassignTo, wanted)));
    problems.push(...(await stuckInOtherDatabases(client, settings, backend)));
    // An issued user logs in through its memberships: each scope needs a role that may CONNECT.
    for (const [scope, roles] of settings.roles) {
      const present = roles.filter((r) => found.has(r));
      if (present.length === 0) continue;
      const connect = await client.query<{ ok: boolean }>(
        "SELECT bool_or(has_database_privilege(r, current_database(), 'CONNECT')) AS ok FROM unnest($1::text[]) AS r",
        [present],
      );
      if (!connect.rows[0]?.ok)
        problems.push(`no role of scope "${scope}" may CONNECT to ${settings.database} (GRANT CONNECT ON DATABASE)`);
    }
    return problems;
  });
}

/**
 * This backend's users that own objects or hold privileges in another database: creddy clears
 * only the database it connects to, so these cannot be dropped until someone clears them there.
 * pg_shdepend is cluster-wide, so one query finds them all.
 */
async function stuckInOtherDatabases(client: pg.ClientBase, settings: PostgresSettings, backend: string): Promise<string[]> {
  const { rows } = await client.query<{ role: string; comment: string | null; databases: string[] }>(
    `SELECT r.rolname AS role, shobj_description(r.oid, 'pg_authid') AS comment, array_agg(DISTINCT d.datname::text) AS databases
       FROM pg_roles r
       JOIN pg_shdepend s ON s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid
       JOIN pg_database d ON d.oid = s.dbid
      WHERE substr(r.rolname, 1, length($1::text)) = $1::text AND d.datname <> current_database()
      GROUP BY r.rolname, r.oid ORDER BY 1`,
    [settings.rolePrefix],
  );
  return rows
    .filter((r) => parseRoleComment(r.comment)?.backend === backend)
    .map(
      (r) =>
        `user "${r.role}" owns objects or holds privileges in database ${r.databases.map((d) => `"${d}"`).join(', ')}: creddy clears only ${settings.database}, so it cannot drop the user (DROP OWNED BY "${r.role}" there)`,
    );
}
