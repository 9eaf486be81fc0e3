import type pg from 'pg';
import { describePrivileged, privilegedRoles } from './privileged.js';

/**
 * Why `keeper` (`reassign_owned_to`) may not receive what dropped users owned, as sentences an
 * operator can act on (empty: it may). What a user leaves behind can run as its owner: a
 * `SECURITY DEFINER` function is executable by PUBLIC, a view reads with its owner's rights. So
 * the owner must have no rights beyond owning those objects: NOLOGIN, nothing privileged (itself),
 * a member of no role at all (so it reaches nothing by membership), and out of reach of every
 * mapped role (no issued user may `SET ROLE` to it). The admin must hold its privileges to
 * reassign to it and, unless a superuser, the keeper needs CREATE wherever the mapped roles
 * have it (PostgreSQL checks that when it hands over a function, a type or a schema).
 */
export async function keeperProblems(client: pg.ClientBase, keeper: string, mapped: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{
    login: boolean;
    member_of: string[];
    reached_by: string[];
    usable: boolean;
    admin_super: boolean;
    schemas: string[];
    database: boolean;
  }>(
    `SELECT k.rolcanlogin AS login,
            ARRAY(SELECT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = k.oid ORDER BY 1) AS member_of,
            ARRAY(SELECT g.rolname::text FROM pg_roles g WHERE g.rolname = ANY($2::text[]) AND pg_has_role(g.oid, k.oid, 'MEMBER') ORDER BY 1) AS reached_by,
            pg_has_role(current_user, k.oid, 'USAGE') AS usable,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS admin_super,
            ARRAY(SELECT n.nspname::text FROM pg_namespace n
                   WHERE NOT has_schema_privilege(k.oid, n.oid, 'CREATE')
                     AND EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = ANY($2::text[]) AND has_schema_privilege(g.oid, n.oid, 'CREATE'))
                   ORDER BY 1) AS schemas,
            (NOT has_database_privilege(k.oid, current_database(), 'CREATE')
              AND EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = ANY($2::text[]) AND has_database_privilege(g.oid, current_database(), 'CREATE'))) AS database
       FROM pg_roles k WHERE k.rolname = $1`,
    [keeper, mapped],
  );
  const it = `reassign_owned_to role "${keeper}"`;
  const k = rows[0];
  if (!k) return [`${it} does not exist (CREATE ROLE ${keeper} NOLOGIN)`];
  const problems: string[] = [];
  if (mapped.includes(keeper)) problems.push(`${it} is one of the roles scopes map to: every issued user could act as it`);
  else if (k.reached_by.length > 0)
    problems.push(`${it} is reached by membership from ${k.reached_by.join(', ')}: every issued user could SET ROLE to it`);
  if (k.login) problems.push(`${it} may log in (ALTER ROLE ${keeper} NOLOGIN)`);
  const privileged = await privilegedRoles(client, [keeper]);
  if (privileged.length > 0) problems.push(`${describePrivileged(privileged)}: what users left behind would run with that`);
  else if (k.member_of.length > 0)
    problems.push(
      `${it} is a member of ${k.member_of.join(', ')}: it must belong to no role (REVOKE ${k.member_of.join(', ')} FROM ${keeper})`,
    );
  if (!k.usable) problems.push(`the admin role cannot reassign objects to ${it} (GRANT ${keeper} TO <the admin role>)`);
  if (!k.admin_super) {
    if (k.schemas.length > 0)
      problems.push(
        `${it} lacks CREATE on schema ${k.schemas.join(', ')}, where users may create objects (GRANT CREATE ON SCHEMA … TO ${keeper})`,
      );
    if (k.database)
      problems.push(`${it} lacks CREATE on the database, where users may create schemas (GRANT CREATE ON DATABASE … TO ${keeper})`);
  }
  return problems;
}
