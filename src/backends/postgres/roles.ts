import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/**
 * What creddy writes in `COMMENT ON ROLE` of every role it makes: which backend made it, for which
 * credential, and when it expires. The sweep drops only roles that carry this comment, have the
 * backend's prefix, and are past `exp`: a role made just before a crash (whose credential row was
 * never written) is removed, and an operator's own role is never touched.
 */
export interface RoleComment {
  readonly backend: string;
  readonly jti: string;
  /** Epoch seconds: the credential's expiry, also the role's VALID UNTIL. */
  readonly exp: number;
}

const COMMENT_TAG = 'creddy:';

export const roleComment = (c: RoleComment): string => COMMENT_TAG + JSON.stringify({ backend: c.backend, jti: c.jti, exp: c.exp });

/** The comment of a creddy-made role, or undefined for anything else. */
export function parseRoleComment(text: string | null): RoleComment | undefined {
  if (!text?.startsWith(COMMENT_TAG)) return undefined;
  try {
    const c = JSON.parse(text.slice(COMMENT_TAG.length)) as Partial<RoleComment>;
    return typeof c.backend === 'string' && typeof c.jti === 'string' && typeof c.exp === 'number'
      ? { backend: c.backend, jti: c.jti, exp: c.exp }
      : undefined;
  } catch {
    return undefined;
  }
}

/** A role name creddy generates: never from request input. 96 random bits in hex. */
export const newRoleName = (prefix: string): string => `${prefix}${randomBytes(12).toString('hex')}`;

/** A login password: 256 random bits, base64url (URL- and shell-safe, ASCII for SCRAM). */
export const newPassword = (): string => randomBytes(32).toString('base64url');

export interface NewRole {
  readonly name: string;
  /** The SCRAM verifier of its password (scram.ts), computed before the transaction opens. */
  readonly verifier: string;
  readonly memberOf: readonly string[];
  readonly comment: RoleComment;
  readonly connectionLimit: number;
}

/**
 * Creates the login role inside the caller's transaction: exactly the attributes of an
 * unprivileged user, VALID UNTIL the credential's expiry, the SCRAM verifier of its password (the
 * password itself never reaches the server), the creddy comment, then its memberships. Every
 * identifier is quoted with the driver's escaping, every literal escaped; DDL takes no parameters.
 */
export async function createLoginRole(client: pg.ClientBase, role: NewRole): Promise<void> {
  const name = client.escapeIdentifier(role.name);
  const validUntil = new Date(role.comment.exp * 1000).toISOString();
  await client.query(
    `CREATE ROLE ${name} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS` +
      ` CONNECTION LIMIT ${Math.trunc(role.connectionLimit)} PASSWORD ${client.escapeLiteral(role.verifier)} VALID UNTIL ${client.escapeLiteral(validUntil)}`,
  );
  await client.query(`COMMENT ON ROLE ${name} IS ${client.escapeLiteral(roleComment(role.comment))}`);
  for (const group of role.memberOf) await client.query(`GRANT ${client.escapeIdentifier(group)} TO ${name}`);
}

/** Roles whose name starts with `prefix`, with their comments (`pg_roles` is cluster-wide). */
export async function listPrefixedRoles(client: pg.ClientBase, prefix: string): Promise<Array<{ name: string; comment: string | null }>> {
  const { rows } = await client.query<{ rolname: string; comment: string | null }>(
    "SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE substr(rolname, 1, length($1::text)) = $1::text",
    [prefix],
  );
  return rows.map((r) => ({ name: r.rolname, comment: r.comment }));
}
