import type pg from 'pg';

/**
 * Predefined roles whose rights reach past the tables the operator granted: every table of the
 * database (pg_read_all_data also reads pg_authid, every role's password verifier; pg_write_all_data
 * writes past every grant; pg_maintain locks and rewrites any table), files and programs on the
 * server host, signals to other sessions (a member could end any non-superuser's session, creddy's
 * admin connection included), subscriptions that connect out of the server. A name the server
 * lacks (an older version) matches nothing. The monitoring roles (pg_monitor, pg_read_all_stats,
 * pg_read_all_settings, pg_stat_scan_tables) are not here: they show statistics, settings and
 * other sessions' query text, which an operator may mean a monitoring scope to see.
 */
export const BEYOND_DATA_ROLES: readonly string[] = [
  'pg_read_all_data',
  'pg_write_all_data',
  'pg_maintain',
  'pg_read_server_files',
  'pg_write_server_files',
  'pg_execute_server_program',
  'pg_signal_backend',
  'pg_signal_autovacuum_worker',
  'pg_create_subscription',
];

/** A role creddy refuses to hand out, and why, as a phrase (`has SUPERUSER`, `is a member of "boss", which has SUPERUSER`). */
export interface PrivilegedRole {
  readonly role: string;
  readonly reason: string;
}

/**
 * Roles among `names` through which a member would get more than data access. A member of a role
 * may `SET ROLE` to every role that role belongs to, directly or through others (always up to
 * PostgreSQL 15; by default from 16 on), and may grant every role one of them holds with ADMIN
 * OPTION. So each role is tested together with every role it reaches by membership, itself
 * included: refused if one of them is SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS, is one of
 * BEYOND_DATA_ROLES, or holds ADMIN OPTION on any role. Checked in every issuance's transaction,
 * so a role altered or granted after config was written is refused at once.
 */
export async function privilegedRoles(client: pg.ClientBase, names: readonly string[]): Promise<PrivilegedRole[]> {
  if (names.length === 0) return [];
  // pg_roles p is filtered on its attributes before pg_has_role runs; pg_has_role(super, x) is
  // true for every x, so the role's own row sorts first and names the real reason.
  const { rows } = await client.query<{ role: string; via: string; what: string }>(
    `SELECT r.rolname AS role, why.via, why.what
       FROM pg_roles r
       CROSS JOIN LATERAL (
         SELECT via, what FROM (
           SELECT p.rolname AS via, p.oid = r.oid AS self,
                  CASE WHEN p.rolsuper THEN 'SUPERUSER' WHEN p.rolcreaterole THEN 'CREATEROLE'
                       WHEN p.rolreplication THEN 'REPLICATION' WHEN p.rolbypassrls THEN 'BYPASSRLS'
                       ELSE 'predefined' END AS what
             FROM pg_roles p
            WHERE (p.rolsuper OR p.rolcreaterole OR p.rolreplication OR p.rolbypassrls OR p.rolname = ANY($2::text[]))
              AND pg_has_role(r.oid, p.oid, 'MEMBER')
           UNION ALL
           SELECT pg_get_userbyid(m.member), m.member = r.oid, 'ADMIN OPTION on "' || pg_get_userbyid(m.roleid) || '"'
             FROM pg_auth_members m
            WHERE m.admin_option AND pg_has_role(r.oid, m.member, 'MEMBER')
         ) found ORDER BY self DESC LIMIT 1
       ) why
      WHERE r.rolname = ANY($1::text[])
      ORDER BY r.rolname`,
    [names, BEYOND_DATA_ROLES],
  );
  return rows.map(({ role, via, what }) => ({ role, reason: phrase(role, via, what) }));
}

function phrase(role: string, via: string, what: string): string {
  if (what === 'predefined') return via === role ? `is the predefined role ${via}` : `is a member of ${via}`;
  return via === role ? `has ${what}` : `is a member of "${via}", which has ${what}`;
}

/** One sentence for a list of refused roles: `role "a" has BYPASSRLS; role "b" is a member of …`. */
export const describePrivileged = (found: readonly PrivilegedRole[]): string => found.map((p) => `role "${p.role}" ${p.reason}`).join('; ');
