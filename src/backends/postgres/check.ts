import type pg from 'pg';
import type { AdminPool } from './admin.js';
import type { PostgresSettings } from './config.js';

/** Predefined roles that reach past the database into the server host; a configured role must not carry them. */
const HOST_ROLES = ['pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program'];

/**
 * Roles among `names` that would hand out more than data access: SUPERUSER, CREATEROLE,
 * REPLICATION or BYPASSRLS (a member could `SET ROLE` to it), or membership in a predefined role
 * that reads, writes or runs things on the server host. Checked in every issuance's transaction,
 * so a role altered after config was written is refused at once.
 */
export async function privilegedRoles(client: pg.ClientBase, names: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])
        AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls
             OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS h(name) WHERE pg_has_role(pg_roles.oid, h.name, 'MEMBER')))`,
    [names, HOST_ROLES],
  );
  return rows.map((r) => r.rolname);
}

/**
 * What the admin connection of a postgres backend cannot do, as sentences an operator can act on
 * (empty: ready). For `creddy doctor` and tests; issuance reports the same failures as
 * ERR_BACKEND_MISCONFIGURED when they happen. Connection failures reject with the CreddyError.
 */
export async function checkPostgresAdmin(admin: AdminPool, settings: PostgresSettings): Promise<string[]> {
  const wanted = [...new Set([...settings.roles.values()].flat())];
  return admin.withClient(async (client) => {
    const problems: string[] = [];
    const me = (
      await client.query<{ name: string; rolsuper: boolean; rolcreaterole: boolean; can_signal: boolean; version: number }>(
        `SELECT rolname AS name, rolsuper, rolcreaterole, pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS can_signal,
                current_setting('server_version_num')::int AS version
           FROM pg_roles WHERE rolname = current_user`,
      )
    ).rows[0]!;
    const who = `the admin role "${me.name}" of ${settings.display}`;
    if (!me.rolsuper && !me.rolcreaterole) problems.push(`${who} lacks CREATEROLE (ALTER ROLE ${me.name} CREATEROLE)`);
    if (!me.rolsuper && !me.can_signal)
      problems.push(`${who} cannot end the sessions of expired users (GRANT pg_signal_backend TO ${me.name})`);
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
    for (const role of await privilegedRoles(client, wanted)) {
      problems.push(`role "${role}" carries SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS or server-file rights: creddy will not grant it`);
    }
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
